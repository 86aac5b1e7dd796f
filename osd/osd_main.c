/*
 * tessera-osd: options, the device, start-up and clean shutdown.
 *
 *   tessera-osd --mon HOST:PORT[,...] --device PATH [--size 4G] --cores N
 *               [--listen-host 127.0.0.1] [--port-base P] ...
 *
 * The device (a block device or a file; a missing file is created with
 * --size) is cut into N equal partitions, one libstore per reactor. On first
 * start the device must be blank (its first 4 KiB zero, or a new file) or
 * --force-format given: then every partition is formatted and partition 0's
 * metadata gets the OSD's identity (a random uuid, the partition count, and
 * later the id the monitor assigns): see osd_ondisk.h. A restart reads the
 * identity back, so the OSD boots with the same uuid and asks for the same id.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "osd.h"
#include "rt_conf.h"
#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"

static const char *const durability_choices[] = { "fua", "batch", "none", NULL };

static const struct rt_conf_opt osd_opts[] = {
	{ "mon", 'm', RT_CONF_LIST, offsetof(struct osd_conf, mon), NULL, 0, 0, false,
	  "monitor addresses (numeric HOST:PORT, comma separated)", NULL, "ADDRS" },
	{ "device", 'd', RT_CONF_STR, offsetof(struct osd_conf, device), NULL, 0, 0, false,
	  "block device or file holding this OSD's data", NULL, "PATH" },
	{ "size", 's', RT_CONF_SIZE, offsetof(struct osd_conf, size_bytes), "0", 0, 0, false,
	  "create the device file with this size if it does not exist", NULL, NULL },
	{ "cores", 'c', RT_CONF_INT, offsetof(struct osd_conf, cores), "1", 1, OSD_MAX_REACTORS,
	  false, "reactors (threads, one libstore partition and one port each); fixed at format",
	  NULL, "N" },
	{ "listen-host", 0, RT_CONF_STR, offsetof(struct osd_conf, listen_host), "127.0.0.1", 0,
	  0, false, "numeric address the reactors listen on and publish", NULL, "HOST" },
	{ "port-base", 0, RT_CONF_INT, offsetof(struct osd_conf, port_base), "0", 0, 65535, false,
	  "reactor i listens on port-base + i (0: ephemeral ports)", NULL, "PORT" },
	{ "host", 0, RT_CONF_STR, offsetof(struct osd_conf, host), NULL, 0, 0, false,
	  "host name reported to the monitor (default: gethostname)", NULL, "NAME" },
	{ "failure-domain", 0, RT_CONF_STR, offsetof(struct osd_conf, failure_domain), NULL, 0, 0,
	  false, "failure domain for placement (default: the host)", NULL, "NAME" },
	{ "weight", 0, RT_CONF_STR, offsetof(struct osd_conf, weight), NULL, 0, 0, false,
	  "placement weight (default: the monitor's, the device size in TiB)", NULL, "W" },
	{ "object-size", 0, RT_CONF_SIZE, offsetof(struct osd_conf, object_bytes), "4M", 4096,
	  64 << 20, false, "largest object (format time only)", NULL, NULL },
	{ "durability", 0, RT_CONF_ENUM, offsetof(struct osd_conf, durability), "fua", 0, 0, false,
	  "how writes are made durable: fua (RWF_DSYNC), batch (group fdatasync), none "
	  "(benchmarks only)",
	  durability_choices, NULL },
	{ "no-direct", 0, RT_CONF_BOOL, offsetof(struct osd_conf, no_direct), "false", 0, 0,
	  false, "do not open the device with O_DIRECT (tmpfs)", NULL, NULL },
	{ "force-format", 0, RT_CONF_BOOL, offsetof(struct osd_conf, force_format), "false", 0, 0,
	  false, "format a device that is not blank and holds no OSD (destroys its contents)",
	  NULL, NULL },
	{ "pin", 0, RT_CONF_BOOL, offsetof(struct osd_conf, pin), "false", 0, 0, false,
	  "pin reactor i to CPU i (dedicated hosts)", NULL, NULL },
	{ "busy-poll", 0, RT_CONF_BOOL, offsetof(struct osd_conf, busy_poll), "false", 0, 0, false,
	  "reactors never sleep (burns a core each; dedicated hosts)", NULL, NULL },
	{ "pg-log-len", 0, RT_CONF_INT, offsetof(struct osd_conf, pg_log_len), "256", 8,
	  OSD_PGLOG_MAX_CAP, false, "PG log entries kept per PG (duplicate detection window)",
	  NULL, "N" },
	{ "ops-per-reactor", 0, RT_CONF_INT, offsetof(struct osd_conf, ops_per_reactor), "256", 4,
	  65536, false, "ops a reactor holds at once (more are answered EAGAIN)", NULL, "N" },
	{ "max-io", 0, RT_CONF_SIZE, offsetof(struct osd_conf, max_io_bytes), "1M", 8192,
	  16 << 20, false, "largest data segment of one op (compare-and-write: twice its length)",
	  NULL, NULL },
	{ "io-buffers", 0, RT_CONF_INT, offsetof(struct osd_conf, io_buffers), "64", 2, 65536,
	  false, "data buffers of --max-io bytes per reactor", NULL, "N" },
	{ "op-timeout", 0, RT_CONF_DURATION, offsetof(struct osd_conf, op_timeout_us), "30s",
	  1000, 3600000000LL, false,
	  "a write waiting for min_size members fails after this (STATUS_EPGINACTIVE)", NULL,
	  NULL },
	{ "drain-timeout", 0, RT_CONF_DURATION, offsetof(struct osd_conf, drain_timeout_us),
	  "10s", 1000, 600000000LL, false, "on SIGTERM, wait this long for in-flight ops", NULL,
	  NULL },
	{ "scrub-interval", 0, RT_CONF_DURATION, offsetof(struct osd_conf, scrub_interval_us),
	  "86400s", 0, 2592000000000LL, false,
	  "scrub each PG this OSD is primary of once per this interval, in the background "
	  "(0: only when asked, by a ScrubPg message)",
	  NULL, NULL },
	{ "recovery-max-bytes-per-sec", 0, RT_CONF_SIZE,
	  offsetof(struct osd_conf, recovery_bytes_per_sec), "128M", 0, 1LL << 40, false,
	  "background recovery rate limit per PG, in bytes pushed per second (0: unlimited)",
	  NULL, "BYTES" },
	{ "recovery-blocking-pull", 0, RT_CONF_BOOL,
	  offsetof(struct osd_conf, recovery_blocking_pull), "true", 0, 0, false,
	  "a primary that is behind pulls every missing object before it serves the PG; "
	  "--no-recovery-blocking-pull serves at once and pulls in the background, ops on a "
	  "missing object first pull it (experimental: a stale read was seen once in CI after "
	  "a restart with it, see docs/osd.md)",
	  NULL, NULL },
	{ "scrub-max-bytes-per-sec", 0, RT_CONF_SIZE,
	  offsetof(struct osd_conf, scrub_bytes_per_sec), "64M", 0, 1LL << 40, false,
	  "scrub rate limit per reactor, in mapped bytes of the objects compared per second "
	  "(0: unlimited)",
	  NULL, "BYTES" },
	{ "mon-retry", 0, RT_CONF_DURATION, offsetof(struct osd_conf, mon_retry_us), "500ms",
	  1000, 60000000, false, "delay before trying the next monitor", NULL, NULL },
	{ "log-file", 0, RT_CONF_STR, offsetof(struct osd_conf, log_file), NULL, 0, 0, false,
	  "log to this file instead of stderr", NULL, "PATH" },
	{ "log-level", 0, RT_CONF_STR, offsetof(struct osd_conf, log_level), "info", 0, 0, true,
	  "err, warn, info or debug", NULL, "LEVEL" },
	{ "debug", 0, RT_CONF_LIST, offsetof(struct osd_conf, debug), NULL, 0, 0, true,
	  "subsystems with debug output (osd, store, msgr, ... or all)", NULL, "LIST" },
	{ "debug-hold-repops", 0, RT_CONF_BOOL, offsetof(struct osd_conf, debug_hold_repops),
	  "false", 0, 0, false,
	  "TESTS ONLY: apply writes locally but never replicate or answer them (a crash between "
	  "the local write and replication)",
	  NULL, NULL },
};

static const struct rt_conf_table osd_table = {
	.prog = "tessera-osd",
	.synopsis = "--mon ADDRS --device PATH [--size SIZE] [--cores N] [OPTIONS]",
	.description = "The Tessera object storage daemon: one per device. Runs one reactor "
		       "per core, each with its own libstore partition and port, serves the "
		       "placement groups the monitor maps to it (PG p on reactor p % N) and "
		       "replicates writes to the other members of each acting set.",
	.opts = osd_opts,
	.n_opts = sizeof(osd_opts) / sizeof(osd_opts[0]),
};

/* ---- identity --------------------------------------------------------------------------- */

static int
uuid_generate_str(char *out)
{
	uint8_t u[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, u, sizeof(u));
	close(fd);
	if (n != (ssize_t)sizeof(u))
		return -EIO;
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	snprintf(out, OSD_UUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
		 u[14], u[15]);
	return 0;
}

static void
ident_seal(struct osd_ident_disk *d)
{
	d->crc = 0;
	d->crc = rt_crc32c(0, d, sizeof(*d));
}

static int
ident_check(const struct osd_ident_disk *in)
{
	struct osd_ident_disk d = *in;
	uint32_t crc = d.crc;

	if (d.magic != OSD_IDENT_MAGIC)
		return -RT_EBADMAGIC;
	d.crc = 0;
	if (rt_crc32c(0, &d, sizeof(d)) != crc)
		return -RT_EBADCRC;
	if (d.format != OSD_IDENT_FORMAT)
		return -RT_EBADVERSION;
	if (memchr(d.uuid, 0, sizeof(d.uuid)) == NULL || strlen(d.uuid) != OSD_UUID_LEN)
		return -EBADMSG;
	return 0;
}

static void
part_opts(const struct osd *osd, uint32_t i, struct st_opts *o)
{
	st_opts_init(o);
	o->path = osd->conf.device;
	o->offset_bytes = (uint64_t)i * osd->part_bytes;
	o->length_bytes = osd->part_bytes;
	o->max_object_bytes = (uint32_t)osd->conf.object_bytes;
	o->durability = (enum st_durability)osd->conf.durability;
	o->no_direct = osd->conf.no_direct;
}

/* Read (or, after a format, create) the identity in partition 0. */
static int
ident_load(struct osd *osd, bool formatted)
{
	struct rt_reactor_opts ro;
	struct rt_reactor *tmp = NULL;
	struct st_store *st = NULL;
	struct st_opts o;
	int rc, len;

	rt_reactor_opts_init(&ro);
	ro.name = "osd-init";
	rc = rt_reactor_create(&ro, &tmp);
	if (rc < 0)
		return rc;
	part_opts(osd, 0, &o);
	rc = st_open(&o, tmp, &st);
	if (rc == -EINVAL) {
		fprintf(stderr,
			"tessera-osd: %s: partition 0 does not match --cores %u on this device "
			"size: was it formatted with another --cores?\n",
			osd->conf.device, osd->n_reactors);
		goto out_destroy;
	}
	if (rc < 0) {
		fprintf(stderr, "tessera-osd: %s: opening partition 0: %s (%d)\n", osd->conf.device,
			rt_strerror(rc), rc);
		goto out_destroy;
	}
	len = st_meta_get(st, OSD_IDENT_KEY, (uint32_t)strlen(OSD_IDENT_KEY), &osd->ident,
			  sizeof(osd->ident));
	if (len == (int)sizeof(osd->ident) && ident_check(&osd->ident) == 0) {
		if (osd->ident.n_partitions != osd->n_reactors) {
			fprintf(stderr, "tessera-osd: %s was formatted with --cores %u, not %u\n",
				osd->conf.device, osd->ident.n_partitions, osd->n_reactors);
			rc = -EINVAL;
			goto out_close;
		}
		rc = 0;
		goto out_close;
	}
	if (len >= 0 && !formatted) {
		fprintf(stderr, "tessera-osd: %s: the OSD identity record is corrupt\n",
			osd->conf.device);
		rc = -RT_ECORRUPT;
		goto out_close;
	}
	/* A new OSD (or one formatted by a run that stopped before this step). */
	memset(&osd->ident, 0, sizeof(osd->ident));
	osd->ident.magic = OSD_IDENT_MAGIC;
	osd->ident.format = OSD_IDENT_FORMAT;
	osd->ident.n_partitions = osd->n_reactors;
	osd->ident.device_bytes = osd->device_bytes;
	rc = uuid_generate_str(osd->ident.uuid);
	if (rc < 0)
		goto out_close;
	ident_seal(&osd->ident);
	rc = st_sync_meta_set(st, OSD_IDENT_KEY, (uint32_t)strlen(OSD_IDENT_KEY), &osd->ident,
			      sizeof(osd->ident));
	if (rc < 0)
		fprintf(stderr, "tessera-osd: saving the identity: %s (%d)\n", rt_strerror(rc), rc);
out_close:
	{
		int crc = st_close(&st);

		if (rc == 0 && crc < 0)
			rc = crc;
	}
out_destroy:
	rt_reactor_destroy(&tmp);
	return rc;
}

/* Size the device, format it if it is new, load the identity. */
static int
device_prepare(struct osd *osd)
{
	const struct osd_conf *c = &osd->conf;
	bool formatted = false, blank = false;
	struct stat stt;
	uint8_t *head;
	int fd, rc;

	if (stat(c->device, &stt) < 0) {
		if (errno == ENOENT && c->size_bytes / osd->n_reactors < (16u << 20)) {
			fprintf(stderr, "tessera-osd: --size %" PRIu64 " is too small for %u "
					"partitions (at least 16 MiB each)\n",
				c->size_bytes, osd->n_reactors);
			return -EINVAL;
		}
		if (errno != ENOENT || c->size_bytes == 0) {
			fprintf(stderr, "tessera-osd: %s: %s%s\n", c->device, strerror(errno),
				errno == ENOENT ? " (give --size to create it)" : "");
			return -errno;
		}
		fd = open(c->device, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		rc = posix_fallocate(fd, 0, (off_t)c->size_bytes);
		close(fd);
		if (rc != 0) {
			fprintf(stderr, "tessera-osd: %s: allocating %" PRIu64 " bytes: %s\n",
				c->device, c->size_bytes, strerror(rc));
			return -rc;
		}
		if (stat(c->device, &stt) < 0)
			return -errno;
	}
	fd = open(c->device, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "tessera-osd: %s: %s\n", c->device, strerror(errno));
		return -errno;
	}
	if (S_ISBLK(stt.st_mode)) {
		uint64_t sz = 0;

		if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		osd->device_bytes = sz;
	} else {
		osd->device_bytes = (uint64_t)stt.st_size;
	}
	head = calloc(1, 4096);
	if (!head) {
		close(fd);
		return -ENOMEM;
	}
	blank = pread(fd, head, 4096, 0) == 4096;
	for (int i = 0; blank && i < 4096; i++)
		blank = head[i] == 0;
	free(head);
	close(fd);
	osd->part_bytes = (osd->device_bytes / osd->n_reactors) & ~(uint64_t)4095;
	if (osd->part_bytes < (16u << 20)) {
		fprintf(stderr, "tessera-osd: %s: %" PRIu64 " bytes is too small for %u partitions "
				"(at least 16 MiB each)\n",
			c->device, osd->device_bytes, osd->n_reactors);
		return -EINVAL;
	}
	if (!blank && !c->force_format) {
		struct st_opts o;
		struct rt_reactor *tmp = NULL;
		struct rt_reactor_opts ro;
		struct st_store *st = NULL;

		/* Holds a store already? Otherwise refuse to overwrite it. */
		rt_reactor_opts_init(&ro);
		rc = rt_reactor_create(&ro, &tmp);
		if (rc < 0)
			return rc;
		part_opts(osd, 0, &o);
		rc = st_open(&o, tmp, &st);
		if (rc == 0)
			st_close(&st);
		rt_reactor_destroy(&tmp);
		if (rc == -RT_EBADMAGIC) {
			fprintf(stderr, "tessera-osd: %s is not blank and holds no OSD; "
					"--force-format to format it anyway\n",
				c->device);
			return rc;
		}
	}
	if (blank || c->force_format) {
		rt_info(RT_SS_OSD, "formatting %s: %u partitions of %" PRIu64 " bytes", c->device,
			osd->n_reactors, osd->part_bytes);
		for (uint32_t i = 0; i < osd->n_reactors; i++) {
			struct st_opts o;

			part_opts(osd, i, &o);
			rc = st_format(&o);
			if (rc < 0) {
				fprintf(stderr, "tessera-osd: formatting partition %u of %s: %s (%d)\n",
					i, c->device, rt_strerror(rc), rc);
				return rc;
			}
		}
		formatted = true;
	}
	rc = ident_load(osd, formatted);
	if (rc < 0)
		return rc;
	memcpy(osd->uuid, osd->ident.uuid, OSD_UUID_LEN);
	osd->uuid[OSD_UUID_LEN] = '\0';
	osd->osd_id = osd->ident.osd_id;
	rt_info(RT_SS_OSD, "device %s: %" PRIu64 " bytes, uuid %s, id %u%s", c->device,
		osd->device_bytes, osd->uuid, osd->osd_id,
		osd->osd_id ? "" : " (new: the monitor assigns one)");
	return 0;
}

/* ---- main ------------------------------------------------------------------------------- */

static int
log_setup(const struct osd_conf *c)
{
	int level = rt_log_level_parse(c->log_level);
	char buf[512], *save = NULL, *tok;
	int rc;

	if (level < 0) {
		fprintf(stderr, "tessera-osd: --log-level: '%s' is not err|warn|info|debug\n",
			c->log_level);
		return -EINVAL;
	}
	rc = rt_log_init("tessera-osd", c->log_file, (enum rt_log_level)level);
	if (rc < 0) {
		fprintf(stderr, "tessera-osd: log: %s (%d)\n", rt_strerror(rc), rc);
		return rc;
	}
	if (c->debug && strlen(c->debug) < sizeof(buf)) {
		strcpy(buf, c->debug);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (rt_log_set_debug(tok, true) < 0)
				rt_warn(RT_SS_OSD, "--debug: unknown subsystem '%s'", tok);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static char hostname[256];
	struct rt_reactor_opts ro;
	struct osd *osd;
	sigset_t set;
	int first = 0, rc, exit_code = 1;

	osd = calloc(1, sizeof(*osd));
	if (!osd)
		return 1;
	rc = rt_conf_parse(&osd_table, &osd->conf, argc, argv, &first);
	if (rc == 1) {
		free(osd);
		return 0;
	}
	if (rc < 0)
		goto out_free;
	if (first < argc) {
		fprintf(stderr, "tessera-osd: unexpected argument '%s'\n", argv[first]);
		goto out_free;
	}
	if (!osd->conf.device || !osd->conf.mon) {
		fprintf(stderr, "tessera-osd: --device and --mon are required (see --help)\n");
		goto out_free;
	}
	if (osd->conf.max_io_bytes % 4096) {
		fprintf(stderr, "tessera-osd: --max-io must be a multiple of 4096\n");
		goto out_free;
	}
	if (osd->conf.weight) {
		char *end = NULL;

		osd->weight = strtod(osd->conf.weight, &end);
		if (!end || *end || osd->weight <= 0) {
			fprintf(stderr, "tessera-osd: --weight: '%s' is not a positive number\n",
				osd->conf.weight);
			goto out_free;
		}
	}
	if (!osd->conf.host) {
		if (gethostname(hostname, sizeof(hostname) - 1) < 0)
			strcpy(hostname, "localhost");
		osd->conf.host = hostname;
	}
	osd->n_reactors = (uint32_t)osd->conf.cores;
	osd->sig_fd = -1;
	/* Before any thread starts (the logger too): every thread inherits this mask; the control thread reads a signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (log_setup(&osd->conf) < 0)
		goto out_free;

	rc = device_prepare(osd);
	if (rc < 0)
		goto out_log;
	pthread_mutex_init(&osd->lock, NULL);
	pthread_cond_init(&osd->cond, NULL);
	rt_reactor_opts_init(&ro);
	ro.name = "osd-ctl";
	rc = rt_reactor_create(&ro, &osd->ctl);
	if (rc < 0)
		goto out_log;
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		rc = osd_reactor_create(osd, i, &osd->reactors[i]);
		if (rc < 0)
			goto out_reactors;
	}
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		rc = osd_reactor_thread_start(osd->reactors[i]);
		if (rc < 0) {
			osd->reactors[i]->start_rc = rc;
			pthread_mutex_lock(&osd->lock);
			osd->n_ready++;
			pthread_mutex_unlock(&osd->lock);
		}
	}
	pthread_mutex_lock(&osd->lock);
	while (osd->n_ready < osd->n_reactors)
		pthread_cond_wait(&osd->cond, &osd->lock);
	pthread_mutex_unlock(&osd->lock);
	rc = 0;
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		if (osd->reactors[i]->start_rc == 0)
			osd->n_started++;
		else if (rc == 0)
			rc = osd->reactors[i]->start_rc;
	}
	if (rc == 0)
		rc = osd_mon_start(osd);
	if (rc < 0) {
		rt_err(RT_SS_OSD, "start-up failed: " DF_RC, DP_RC(rc));
		osd->exit_rc = rc;
		/* Stop the reactors that did start, through the control loop. */
		osd->stopping = false;
		for (uint32_t i = 0; i < osd->n_reactors; i++) {
			struct osd_reactor *r = osd->reactors[i];

			if (r->start_rc == 0)
				rt_reactor_post(r->r, &r->stop_msg, osd_reactor_stop_msg, r);
		}
		osd->stopping = true;
		if (osd->n_started)
			rt_reactor_run(osd->ctl);
		goto out_mon;
	}
	rt_info(RT_SS_OSD, "started: %u reactors, monitors %s", osd->n_reactors, osd->conf.mon);
	rc = rt_reactor_run(osd->ctl);
	if (rc < 0)
		rt_err(RT_SS_OSD, "control loop: " DF_RC, DP_RC(rc));
	else
		exit_code = 0;
	rt_info(RT_SS_OSD, "stopped cleanly");
out_mon:
	osd_mon_stop(osd);
out_reactors:
	for (uint32_t i = 0; i < osd->n_reactors; i++)
		osd_reactor_free(&osd->reactors[i]);
	rt_reactor_destroy(&osd->ctl);
	pthread_cond_destroy(&osd->cond);
	pthread_mutex_destroy(&osd->lock);
out_log:
	rt_log_fini();
out_free:
	rt_conf_free(&osd_table, &osd->conf);
	free(osd);
	return exit_code;
}
