/*
 * tessera-iscsi: options, configuration (targets, LUNs, ACLs, CHAP), the
 * listening portals, the acceptor and SIGHUP reload.
 *
 * The main thread owns the listeners and a signalfd; accepted sockets go
 * round-robin to the worker threads (iscsi_conn.c), which do everything
 * else. A reload re-reads the command line and the config file, builds a new
 * immutable configuration (reusing the LUN objects of volumes that stay
 * exported, so reservations and open volume handles survive), publishes it
 * for new logins and closes only the sessions whose target changed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "iscsi_conn.h"
#include "iscsi_lun.h"
#include "rt_conf.h"
#include "rt_err.h"
#include "rt_log.h"
#include "tessera/tessera.h"

#define MAX_WORKERS 64

struct iscsi_main_conf {
	const char *mon;
	const char *portal;
	const char *target;
	const char *lun;
	const char *ram_lun;
	const char *acl;
	const char *chap;
	const char *mutual_chap;
	const char *discovery_chap;
	const char *alua_groups;
	int64_t threads;
	int64_t cmd_window;
	int64_t tpgt;
	uint64_t max_io;
	uint64_t max_recv_dsl;
	uint64_t max_burst;
	uint64_t first_burst;
	bool initial_r2t;
	bool immediate_data;
	bool pr_shared;
	int digest;
	uint64_t nop_interval_us;
	uint64_t nop_timeout_us;
	uint64_t login_timeout_us;
	const char *log_file;
	const char *log_level;
	const char *debug;
};

static const char *const digest_choices[] = {"initiator", "crc32c", NULL};

#define OFF(f) offsetof(struct iscsi_main_conf, f)

static const struct rt_conf_opt iscsi_opts[] = {
	{"mon", 'm', RT_CONF_LIST, OFF(mon), NULL, 0, 0, false,
	 "monitor addresses (HOST:PORT, comma separated); needed for --lun", NULL, "ADDRS"},
	{"portal", 'p', RT_CONF_LIST, OFF(portal), NULL, 0, 0, false,
	 "address to listen on, IPv4 ADDR:PORT (repeatable; default 0.0.0.0:3260)", NULL,
	 "ADDR:PORT"},
	{"target", 't', RT_CONF_LIST, OFF(target), NULL, 0, 0, true,
	 "target name to export (repeatable); the first one is the default for --lun, --acl, "
	 "--chap",
	 NULL, "IQN"},
	{"lun", 'l', RT_CONF_LIST, OFF(lun), NULL, 0, 0, true,
	 "export volume VOLUME as LUN N of target IQN (default: the first --target); "
	 "repeatable",
	 NULL, "N:VOLUME[@IQN]"},
	{"ram-lun", 0, RT_CONF_LIST, OFF(ram_lun), NULL, 0, 0, true,
	 "export a RAM disk of SIZE bytes as LUN N (development and tests; no cluster needed)",
	 NULL, "N:SIZE[@IQN]"},
	{"acl", 0, RT_CONF_LIST, OFF(acl), NULL, 0, 0, true,
	 "allow only these initiator names to log in to the target (repeatable; none: everyone)",
	 NULL, "INITIATOR[@IQN]"},
	{"chap", 0, RT_CONF_LIST, OFF(chap), NULL, 0, 0, true,
	 "require CHAP: the initiator logs in as USER with SECRET (best kept in --config)", NULL,
	 "USER:SECRET[@IQN]"},
	{"mutual-chap", 0, RT_CONF_LIST, OFF(mutual_chap), NULL, 0, 0, true,
	 "mutual CHAP: the target answers the initiator's challenge as USER with SECRET", NULL,
	 "USER:SECRET[@IQN]"},
	{"discovery-chap", 0, RT_CONF_STR, OFF(discovery_chap), NULL, 0, 0, true,
	 "require CHAP for discovery sessions", NULL, "USER:SECRET"},
	{"threads", 'j', RT_CONF_INT, OFF(threads), "1", 1, MAX_WORKERS, false,
	 "worker threads (each serves its connections with its own libtessera queue)", NULL,
	 NULL},
	{"cmd-window", 0, RT_CONF_INT, OFF(cmd_window), "64", 1, 1024, false,
	 "commands in flight per session (the CmdSN window)", NULL, NULL},
	{"tpgt", 0, RT_CONF_INT, OFF(tpgt), "1", 1, 65535, false,
	 "target portal group tag, also the relative target port id and ALUA group of this "
	 "gateway (give each gateway of a multipath set its own)",
	 NULL, NULL},
	{"alua-groups", 0, RT_CONF_LIST, OFF(alua_groups), NULL, 0, 0, false,
	 "the --tpgt of every gateway exporting these volumes, so that REPORT TARGET PORT "
	 "GROUPS lists the same groups through every path (default: this gateway's only)",
	 NULL, "N,N,..."},
	{"max-io", 0, RT_CONF_SIZE, OFF(max_io), "8M", 4096, 16 << 20, false,
	 "largest SCSI transfer (Block Limits VPD maximum transfer length; each command slot reserves twice this in address space, touched only as used)", NULL, "BYTES"},
	{"max-recv-data-segment", 0, RT_CONF_SIZE, OFF(max_recv_dsl), "256K", 512, 16777215,
	 false, "our MaxRecvDataSegmentLength", NULL, "BYTES"},
	{"max-burst", 0, RT_CONF_SIZE, OFF(max_burst), "1M", 512, 16777215, false,
	 "largest MaxBurstLength accepted", NULL, "BYTES"},
	{"first-burst", 0, RT_CONF_SIZE, OFF(first_burst), "256K", 512, 16777215, false,
	 "largest FirstBurstLength accepted (unsolicited data)", NULL, "BYTES"},
	{"initial-r2t", 0, RT_CONF_BOOL, OFF(initial_r2t), "false", 0, 0, false,
	 "insist on InitialR2T=Yes (no unsolicited Data-Out)", NULL, NULL},
	{"immediate-data", 0, RT_CONF_BOOL, OFF(immediate_data), "true", 0, 0, false,
	 "accept ImmediateData (--no-immediate-data refuses it)", NULL, NULL},
	{"pr-shared", 0, RT_CONF_BOOL, OFF(pr_shared), "true", 0, 0, false,
	 "keep persistent reservations in the cluster (sidecar volume VOLUME.iscsi-pr) so that "
	 "every gateway of the volume agrees (--no-pr-shared: this process only)",
	 NULL, NULL},
	{"digest", 0, RT_CONF_ENUM, OFF(digest), "initiator", 0, 0, false,
	 "digest choice when the initiator offers both: its first preference, or CRC32C",
	 digest_choices, NULL},
	{"nop-interval", 0, RT_CONF_DURATION, OFF(nop_interval_us), "30s", 0, 3600000000LL, false,
	 "send a NOP-In ping after this long without traffic (0: never)", NULL, NULL},
	{"nop-timeout", 0, RT_CONF_DURATION, OFF(nop_timeout_us), "30s", 1000, 3600000000LL,
	 false, "close a connection whose ping is unanswered this long", NULL, NULL},
	{"login-timeout", 0, RT_CONF_DURATION, OFF(login_timeout_us), "30s", 1000, 3600000000LL,
	 false, "close a connection still logging in after this long", NULL, NULL},
	{"log-file", 0, RT_CONF_STR, OFF(log_file), NULL, 0, 0, false,
	 "log to this file instead of stderr", NULL, "PATH"},
	{"log-level", 0, RT_CONF_STR, OFF(log_level), "info", 0, 0, true, "err, warn, info or debug",
	 NULL, "LEVEL"},
	{"debug", 0, RT_CONF_LIST, OFF(debug), NULL, 0, 0, true,
	 "subsystems with debug output (iscsi, client, ... or all)", NULL, "LIST"},
};

static const struct rt_conf_table iscsi_table = {
	.prog = "tessera-iscsi",
	.synopsis = "--target IQN [--mon ADDRS --lun N:VOLUME ...] [--portal ADDR:PORT] [OPTIONS]",
	.description = "iSCSI target (RFC 7143, SBC-4 block commands) serving Tessera volumes as "
		       "LUNs through libtessera, zero-copy, one worker thread per group of "
		       "connections. Targets, LUNs, ACLs and CHAP credentials come from the "
		       "flags or the --config file; SIGHUP re-reads them and closes only the "
		       "sessions of targets that changed. See docs/iscsi.md.",
	.opts = iscsi_opts,
	.n_opts = sizeof(iscsi_opts) / sizeof(iscsi_opts[0]),
};

/* ------------------------------------------------------------- LUN table */

/* Every LUN object alive, so a reload reuses the one of a volume (guarded by lun_lock). */
static pthread_mutex_t lun_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iscsi_lun *lun_objs[ISCSI_MAX_TARGETS * ISCSI_MAX_LUNS];
static unsigned n_lun_objs;

static void
lun_release(struct iscsi_lun *lun)
{
	pthread_mutex_lock(&lun_lock);
	for (unsigned i = 0; i < n_lun_objs; i++)
		if (lun_objs[i] == lun) {
			lun_objs[i] = lun_objs[--n_lun_objs];
			break;
		}
	pthread_mutex_unlock(&lun_lock);
	iscsi_lun_release(lun);
}

static bool pr_shared_opt = true;

static int
lun_get(void *cluster, uint64_t n, const char *volume, uint64_t ram_size,
	struct iscsi_lun **out)
{
	struct iscsi_lun *l = NULL;
	int rc = 0;

	pthread_mutex_lock(&lun_lock);
	for (unsigned i = 0; i < n_lun_objs; i++) {
		struct iscsi_lun *o = lun_objs[i];

		if (o->lun == n && strcmp(o->volume, volume) == 0 &&
		    iscsi_lun_is_ram(o) == (ram_size != 0)) {
			atomic_fetch_add(&o->refs, 1);
			*out = o;
			pthread_mutex_unlock(&lun_lock);
			return 0;
		}
	}
	if (n_lun_objs == sizeof(lun_objs) / sizeof(lun_objs[0])) {
		rc = -ENOSPC;
	} else if (ram_size) {
		rc = iscsi_lun_open_ram(n, ram_size, volume, &l);
	} else if (!cluster) {
		rc = -ENOTCONN;
	} else {
		rc = iscsi_lun_open_tsr(cluster, n, volume, pr_shared_opt, &l);
	}
	if (rc == 0) {
		lun_objs[n_lun_objs++] = l;
		*out = l;
	}
	pthread_mutex_unlock(&lun_lock);
	return rc;
}

/* ------------------------------------------------------- configuration */

static uint64_t
hash_str(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return (h ^ 0xff) * 0x100000001b3ull;
}

/* Split "VALUE@IQN": the suffix names a target when it looks like one. */
static const char *
split_target(char *item)
{
	char *at = strrchr(item, '@');

	if (at && (strncmp(at + 1, "iqn.", 4) == 0 || strncmp(at + 1, "eui.", 4) == 0 ||
		   strncmp(at + 1, "naa.", 4) == 0)) {
		*at = '\0';
		return at + 1;
	}
	return NULL;
}

static struct iscsi_target *
target_for(struct iscsi_config *cfg, const char *iqn, const char *what, const char *item)
{
	if (!iqn) {
		if (cfg->ntargets == 0) {
			fprintf(stderr, "tessera-iscsi: %s '%s': no --target given\n", what, item);
			return NULL;
		}
		return &cfg->targets[0];
	}
	for (unsigned i = 0; i < cfg->ntargets; i++)
		if (strcasecmp(cfg->targets[i].iqn, iqn) == 0)
			return &cfg->targets[i];
	fprintf(stderr, "tessera-iscsi: %s '%s': unknown target '%s'\n", what, item, iqn);
	return NULL;
}

static int
parse_cred(const char *item, struct iscsi_chap_cred *cred)
{
	const char *colon = strchr(item, ':');

	if (!colon || colon == item || !colon[1] ||
	    (size_t)(colon - item) >= sizeof(cred->user) ||
	    strlen(colon + 1) >= sizeof(cred->secret))
		return -EINVAL;
	memcpy(cred->user, item, (size_t)(colon - item));
	cred->user[colon - item] = '\0';
	snprintf(cred->secret, sizeof(cred->secret), "%s", colon + 1);
	return 0;
}

/* Apply fn to each comma-separated item of list (a copy is modified). */
static int
each_item(const char *list, int (*fn)(struct iscsi_config *, char *, void *),
	  struct iscsi_config *cfg, void *arg)
{
	char *copy, *save = NULL, *tok;
	int rc = 0;

	if (!list)
		return 0;
	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
		rc = fn(cfg, tok, arg);
	free(copy);
	return rc;
}

static int
add_target(struct iscsi_config *cfg, char *item, void *arg)
{
	(void)arg;
	if (cfg->ntargets == ISCSI_MAX_TARGETS || strlen(item) >= ISCSI_NAME_MAX || !*item) {
		fprintf(stderr, "tessera-iscsi: --target '%s': too many or too long\n", item);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->ntargets; i++)
		if (strcasecmp(cfg->targets[i].iqn, item) == 0)
			return 0;
	snprintf(cfg->targets[cfg->ntargets++].iqn, ISCSI_NAME_MAX, "%s", item);
	return 0;
}

struct lun_arg {
	void *cluster;
	bool ram;
};

static int
add_lun(struct iscsi_config *cfg, char *item, void *arg)
{
	struct lun_arg *la = arg;
	const char *what = la->ram ? "--ram-lun" : "--lun";
	char orig[512];
	const char *iqn;
	char *colon, *end = NULL;
	unsigned long long n;
	uint64_t size = 0;
	struct iscsi_target *t;
	struct iscsi_lun *lun = NULL;
	char name[300];
	int rc;

	snprintf(orig, sizeof(orig), "%s", item);
	iqn = split_target(item);
	colon = strchr(item, ':');
	if (!colon) {
		fprintf(stderr, "tessera-iscsi: %s '%s': expected N:%s\n", what, orig,
			la->ram ? "SIZE" : "VOLUME");
		return -EINVAL;
	}
	*colon = '\0';
	n = strtoull(item, &end, 10);
	if (!*item || *end || n > 16383) {
		fprintf(stderr, "tessera-iscsi: %s '%s': LUN number must be 0..16383\n", what, orig);
		return -EINVAL;
	}
	t = target_for(cfg, iqn, what, orig);
	if (!t)
		return -EINVAL;
	if (t->nluns == ISCSI_MAX_LUNS) {
		fprintf(stderr, "tessera-iscsi: %s '%s': too many LUNs\n", what, orig);
		return -EINVAL;
	}
	for (unsigned i = 0; i < t->nluns; i++)
		if (t->luns[i]->lun == n) {
			fprintf(stderr, "tessera-iscsi: %s '%s': LUN %llu given twice\n", what, orig,
				n);
			return -EINVAL;
		}
	if (la->ram) {
		if (rt_parse_size(colon + 1, &size) < 0 || size == 0 || size % 4096) {
			fprintf(stderr, "tessera-iscsi: %s '%s': bad size (a multiple of 4096)\n",
				what, orig);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "ram%llu@%s", n, t->iqn);
	} else {
		if (!colon[1] || strlen(colon + 1) > TSR_NAME_MAX) {
			fprintf(stderr, "tessera-iscsi: %s '%s': bad volume name\n", what, orig);
			return -EINVAL;
		}
		snprintf(name, sizeof(name), "%s", colon + 1);
	}
	rc = lun_get(la->cluster, n, name, size, &lun);
	if (rc < 0) {
		fprintf(stderr, "tessera-iscsi: %s '%s': %s\n", what, orig,
			rc == -ENOTCONN ? "no cluster (--mon)" : tsr_strerror(rc));
		return rc;
	}
	t->luns[t->nluns++] = lun;
	return 0;
}

static int
add_acl(struct iscsi_config *cfg, char *item, void *arg)
{
	char orig[512];
	const char *iqn;
	struct iscsi_target *t;

	(void)arg;
	snprintf(orig, sizeof(orig), "%s", item);
	iqn = split_target(item);
	t = target_for(cfg, iqn, "--acl", orig);
	if (!t)
		return -EINVAL;
	if (t->nacl == ISCSI_MAX_ACL || !*item || strlen(item) >= ISCSI_NAME_MAX) {
		fprintf(stderr, "tessera-iscsi: --acl '%s': too many or bad name\n", orig);
		return -EINVAL;
	}
	snprintf(t->acl[t->nacl++], ISCSI_NAME_MAX, "%s", item);
	return 0;
}

static int
add_chap(struct iscsi_config *cfg, char *item, void *arg)
{
	bool mutual = arg != NULL;
	const char *what = mutual ? "--mutual-chap" : "--chap";
	const char *iqn = split_target(item);
	struct iscsi_target *t = target_for(cfg, iqn, what, "(credentials)");

	if (!t)
		return -EINVAL;
	if (parse_cred(item, mutual ? &t->mutual : &t->chap) < 0) {
		fprintf(stderr, "tessera-iscsi: %s: expected USER:SECRET\n", what);
		return -EINVAL;
	}
	return 0;
}

static int
add_portal(struct iscsi_config *cfg, char *item, void *arg)
{
	(void)arg;
	if (cfg->nportals == ISCSI_MAX_PORTALS || strlen(item) >= sizeof(cfg->portals[0])) {
		fprintf(stderr, "tessera-iscsi: --portal '%s': too many or too long\n", item);
		return -EINVAL;
	}
	snprintf(cfg->portals[cfg->nportals++], sizeof(cfg->portals[0]), "%s", item);
	return 0;
}

static int
build_config(const struct iscsi_main_conf *mc, void *cluster, struct iscsi_config **out)
{
	struct iscsi_config *cfg = calloc(1, sizeof(*cfg));
	struct lun_arg la = {cluster, false}, lr = {cluster, true};
	int rc;

	if (!cfg)
		return -ENOMEM;
	atomic_init(&cfg->refs, 1);
	cfg->tpgt = (uint16_t)mc->tpgt;
	cfg->limits.max_io = (uint32_t)mc->max_io;
	cfg->limits.max_recv_dsl = (uint32_t)mc->max_recv_dsl;
	cfg->limits.max_burst = (uint32_t)mc->max_burst;
	cfg->limits.first_burst = (uint32_t)(mc->first_burst < mc->max_burst ? mc->first_burst
									   : mc->max_burst);
	cfg->limits.initial_r2t = mc->initial_r2t;
	cfg->limits.immediate_data = mc->immediate_data;
	cfg->limits.prefer_crc32c = mc->digest == 1;
	rc = each_item(mc->target, add_target, cfg, NULL);
	if (rc == 0)
		rc = each_item(mc->portal ? mc->portal : "0.0.0.0:3260", add_portal, cfg, NULL);
	if (rc == 0)
		rc = each_item(mc->lun, add_lun, cfg, &la);
	if (rc == 0)
		rc = each_item(mc->ram_lun, add_lun, cfg, &lr);
	if (rc == 0)
		rc = each_item(mc->acl, add_acl, cfg, NULL);
	if (rc == 0)
		rc = each_item(mc->chap, add_chap, cfg, NULL);
	if (rc == 0)
		rc = each_item(mc->mutual_chap, add_chap, cfg, cfg);
	if (rc == 0 && mc->discovery_chap && parse_cred(mc->discovery_chap, &cfg->discovery_chap)) {
		fprintf(stderr, "tessera-iscsi: --discovery-chap: expected USER:SECRET\n");
		rc = -EINVAL;
	}
	if (rc == 0 && cfg->ntargets == 0) {
		fprintf(stderr, "tessera-iscsi: at least one --target is needed (see --help)\n");
		rc = -EINVAL;
	}
	for (unsigned i = 0; rc == 0 && i < cfg->ntargets; i++) {
		struct iscsi_target *t = &cfg->targets[i];
		uint64_t h = hash_str(0xcbf29ce484222325ull, t->iqn);
		char num[32];

		if (t->mutual.secret[0] && !t->chap.secret[0]) {
			fprintf(stderr, "tessera-iscsi: %s: --mutual-chap needs --chap\n", t->iqn);
			rc = -EINVAL;
			break;
		}
		for (unsigned l = 0; l < t->nluns; l++) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)t->luns[l]->lun);
			h = hash_str(hash_str(h, num), t->luns[l]->volume);
		}
		for (unsigned a = 0; a < t->nacl; a++)
			h = hash_str(h, t->acl[a]);
		h = hash_str(hash_str(h, t->chap.user), t->chap.secret);
		h = hash_str(hash_str(h, t->mutual.user), t->mutual.secret);
		t->conf_hash = h;
	}
	if (rc < 0) {
		iscsi_config_put(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* ------------------------------------------------------------ listeners */

static int
listen_on(const char *portal)
{
	char host[64];
	const char *colon = strrchr(portal, ':');
	struct sockaddr_in sa = {.sin_family = AF_INET};
	unsigned long port;
	char *end = NULL;
	int fd, on = 1;

	if (!colon || (size_t)(colon - portal) >= sizeof(host))
		return -EINVAL;
	memcpy(host, portal, (size_t)(colon - portal));
	host[colon - portal] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static int
log_setup(const struct iscsi_main_conf *c)
{
	int level = rt_log_level_parse(c->log_level);
	char buf[512], *save = NULL, *tok;
	int rc;

	if (level < 0) {
		fprintf(stderr, "tessera-iscsi: --log-level: '%s' is not err|warn|info|debug\n",
			c->log_level);
		return -EINVAL;
	}
	rc = rt_log_init("tessera-iscsi", c->log_file, (enum rt_log_level)level);
	if (rc < 0) {
		fprintf(stderr, "tessera-iscsi: log: %s (%d)\n", rt_strerror(rc), rc);
		return rc;
	}
	if (c->debug && strlen(c->debug) < sizeof(buf)) {
		strcpy(buf, c->debug);
		for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (rt_log_set_debug(tok, true) < 0)
				rt_warn(RT_SS_ISCSI, "--debug: unknown subsystem '%s'", tok);
	}
	return 0;
}

/* The published configuration (guarded by cfg_lock; workers take references). */
static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iscsi_config *cur_cfg;

static struct iscsi_config *
config_current(void)
{
	struct iscsi_config *c;

	pthread_mutex_lock(&cfg_lock);
	c = cur_cfg;
	iscsi_config_get(c);
	pthread_mutex_unlock(&cfg_lock);
	return c;
}

static void
reload(int argc, char **saved_argv, void *cluster)
{
	struct iscsi_main_conf mc;
	struct iscsi_config *cfg, *old;
	char **argv = calloc((size_t)argc + 1, sizeof(char *));
	int first = 0, rc;
	unsigned closed;

	if (!argv)
		return;
	memcpy(argv, saved_argv, (size_t)argc * sizeof(char *));
	memset(&mc, 0, sizeof(mc));
	rc = rt_conf_parse(&iscsi_table, &mc, argc, argv, &first);
	if (rc != 0) {
		rt_err(RT_SS_ISCSI, "reload: configuration invalid; keeping the current one");
		goto out;
	}
	rc = build_config(&mc, cluster, &cfg);
	if (rc < 0) {
		rt_err(RT_SS_ISCSI, "reload: " DF_RC "; keeping the current one", DP_RC(rc));
		goto out_conf;
	}
	/* Portals are fixed at start; keep advertising the ones we listen on. */
	pthread_mutex_lock(&cfg_lock);
	old = cur_cfg;
	cfg->nportals = old->nportals;
	memcpy(cfg->portals, old->portals, sizeof(cfg->portals));
	cur_cfg = cfg;
	pthread_mutex_unlock(&cfg_lock);
	closed = iscsi_sessions_reload(cfg);
	rt_info(RT_SS_ISCSI, "reloaded: %u targets; %u sessions of changed targets closed",
		cfg->ntargets, closed);
	iscsi_config_put(old);
out_conf:
	rt_conf_free(&iscsi_table, &mc);
out:
	free(argv);
}

int
main(int argc, char **argv)
{
	struct iscsi_main_conf mc;
	struct iscsi_server_opts so;
	static struct iscsi_worker workers[MAX_WORKERS];
	int listen_fds[ISCSI_MAX_PORTALS];
	unsigned nlisten = 0, nworkers = 0, rr = 0;
	struct tsr_cluster *cluster = NULL;
	char **saved_argv;
	int first = 0, rc, epfd = -1, sfd = -1, exit_code = 1;
	sigset_t set;
	bool running = true;

	saved_argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!saved_argv)
		return 1;
	memcpy(saved_argv, argv, (size_t)argc * sizeof(char *));
	memset(&mc, 0, sizeof(mc));
	rc = rt_conf_parse(&iscsi_table, &mc, argc, argv, &first);
	if (rc == 1) {
		free(saved_argv);
		return 0;
	}
	if (rc < 0)
		goto out_free;
	if (first < argc) {
		fprintf(stderr, "tessera-iscsi: unexpected argument '%s' (invalid; see --help)\n",
			argv[first]);
		goto out_conf;
	}
	if (mc.max_io % 4096) {
		fprintf(stderr, "tessera-iscsi: --max-io must be a multiple of 4096\n");
		goto out_conf;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (log_setup(&mc) < 0)
		goto out_conf;
	iscsi_lun_release_hook = lun_release;

	if (mc.mon) {
		rc = tsr_cluster_create(&cluster);
		if (rc == 0)
			rc = tsr_conf_set(cluster, "mon", mc.mon);
		if (rc == 0)
			rc = tsr_cluster_connect(cluster);
		if (rc < 0) {
			rt_err(RT_SS_ISCSI, "cannot connect to the cluster at %s: " DF_RC, mc.mon,
			       DP_RC(rc));
			goto out_cluster;
		}
	}
	pr_shared_opt = mc.pr_shared;
	if (mc.alua_groups) {
		uint16_t ids[ISCSI_MAX_TPGS];
		unsigned n = 0;
		char *copy = strdup(mc.alua_groups), *save = NULL, *tok;

		for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && n < ISCSI_MAX_TPGS;
		     tok = strtok_r(NULL, ",", &save)) {
			char *end = NULL;
			unsigned long v = strtoul(tok, &end, 10);

			if (*end || v == 0 || v > 65535) {
				fprintf(stderr, "tessera-iscsi: --alua-groups: invalid group '%s'\n",
					tok);
				free(copy);
				goto out_cluster;
			}
			ids[n++] = (uint16_t)v;
		}
		free(copy);
		iscsi_scsi_set_tpgs(ids, n);
	}
	rc = build_config(&mc, cluster, &cur_cfg);
	if (rc < 0)
		goto out_cluster;

	so.cmd_window = (uint32_t)mc.cmd_window;
	so.nop_interval_us = mc.nop_interval_us;
	so.nop_timeout_us = mc.nop_timeout_us;
	so.login_timeout_us = mc.login_timeout_us;
	iscsi_sessions_init();
	for (; nworkers < (unsigned)mc.threads; nworkers++) {
		rc = iscsi_worker_start(&workers[nworkers], nworkers, cluster, &so);
		if (rc < 0) {
			rt_err(RT_SS_ISCSI, "worker %u: " DF_RC, nworkers, DP_RC(rc));
			goto out_workers;
		}
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (epfd < 0 || sfd < 0)
		goto out_workers;
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};

		epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	}
	for (unsigned i = 0; i < cur_cfg->nportals; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
		int fd = listen_on(cur_cfg->portals[i]);

		if (fd < 0) {
			rt_err(RT_SS_ISCSI, "cannot listen on %s: " DF_RC, cur_cfg->portals[i],
			       DP_RC(fd));
			goto out_listen;
		}
		listen_fds[nlisten++] = fd;
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
		rt_info(RT_SS_ISCSI, "listening on %s", cur_cfg->portals[i]);
	}
	for (unsigned t = 0; t < cur_cfg->ntargets; t++)
		rt_info(RT_SS_ISCSI, "target %s: %u LUNs%s%s", cur_cfg->targets[t].iqn,
			cur_cfg->targets[t].nluns, cur_cfg->targets[t].chap.secret[0] ? ", CHAP" : "",
			cur_cfg->targets[t].nacl ? ", ACL" : "");

	while (running) {
		struct epoll_event evs[16];
		int n = epoll_wait(epfd, evs, 16, -1);

		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == UINT32_MAX) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						rt_info(RT_SS_ISCSI, "SIGHUP: reloading the configuration");
						reload(argc, saved_argv, cluster);
					} else {
						rt_info(RT_SS_ISCSI, "signal %u: shutting down",
							si.ssi_signo);
						running = false;
					}
				}
				continue;
			}
			for (int k = 0; k < 64; k++) {
				int fd = accept4(listen_fds[evs[i].data.u32], NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				struct iscsi_config *cfg;

				if (fd < 0)
					break;
				cfg = config_current();
				if (iscsi_worker_add_conn(&workers[rr++ % nworkers], fd, cfg) < 0) {
					rt_warn(RT_SS_ISCSI, "out of memory for a connection");
					close(fd);
				}
				iscsi_config_put(cfg);
			}
		}
	}
	exit_code = 0;
out_listen:
	for (unsigned i = 0; i < nlisten; i++)
		close(listen_fds[i]);
out_workers:
	for (unsigned i = 0; i < nworkers; i++)
		iscsi_worker_stop(&workers[i]);
	if (sfd >= 0)
		close(sfd);
	if (epfd >= 0)
		close(epfd);
	iscsi_config_put(cur_cfg);
	cur_cfg = NULL;
out_cluster:
	tsr_cluster_shutdown(cluster);
	if (exit_code == 0)
		rt_info(RT_SS_ISCSI, "stopped cleanly");
	rt_log_fini();
out_conf:
	rt_conf_free(&iscsi_table, &mc);
out_free:
	free(saved_argv);
	return exit_code;
}
