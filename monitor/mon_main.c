/*
 * tessera-mon: option table, startup, the leader tick, clean shutdown.
 *
 *   tessera-mon --id N --data DIR --listen HOST:PORT [--peers ID=HOST:PORT,...]
 *
 * Each monitor has a small integer id (>= 1). Clients and OSDs talk to
 * --listen; Raft traffic between monitors uses a second port, by default the
 * listen port + 1000 (override with --raft-listen for this monitor, or
 * ID=HOST:PORT/RHOST:RPORT in --peers for the others). Without --peers the
 * monitor is a one-node cluster.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.h"
#include "rt_conf.h"
#include "rt_err.h"
#include "rt_log.h"

struct mon *mon__self;

static const struct rt_conf_opt mon_opts[] = {
	{ "id", 'i', RT_CONF_INT, offsetof(struct mon_conf, id), "1", 1, 255, false,
	  "this monitor's id (a small integer, unique in the cluster)", NULL, "N" },
	{ "data", 'd', RT_CONF_STR, offsetof(struct mon_conf, data_dir), NULL, 0, 0, false,
	  "data directory (Raft log and snapshots); created if missing", NULL, "DIR" },
	{ "listen", 'l', RT_CONF_STR, offsetof(struct mon_conf, listen), "127.0.0.1:6789", 0, 0,
	  false, "address for OSDs and clients (numeric IP:PORT)", NULL, "ADDR" },
	{ "raft-listen", 0, RT_CONF_STR, offsetof(struct mon_conf, raft_listen), NULL, 0, 0, false,
	  "address for Raft traffic between monitors (default: listen port + 1000)", NULL,
	  "ADDR" },
	{ "peers", 'p', RT_CONF_LIST, offsetof(struct mon_conf, peers), NULL, 0, 0, false,
	  "every monitor of the cluster as ID=ADDR[/RAFTADDR], comma separated (may include "
	  "this one); empty: a one-node cluster",
	  NULL, "LIST" },
	{ "osd-grace", 0, RT_CONF_DURATION, offsetof(struct mon_conf, osd_grace_us), "5s", 1000,
	  3600000000LL, true, "mark an OSD down after this long without a heartbeat", NULL, NULL },
	{ "osd-out-after", 0, RT_CONF_DURATION, offsetof(struct mon_conf, osd_out_after_us), "60s",
	  1000, 86400000000LL, true,
	  "mark a down OSD out (and remap its PGs) after this long", NULL, NULL },
	{ "osd-heartbeat-interval", 0, RT_CONF_DURATION, offsetof(struct mon_conf, hb_interval_us),
	  "1s", 1000, 60000000, true, "heartbeat interval told to OSDs at boot", NULL, NULL },
	{ "min-reporters", 0, RT_CONF_INT, offsetof(struct mon_conf, min_reporters), "2", 1, 64,
	  true, "distinct OSDs that must report a peer unreachable before it is marked down",
	  NULL, NULL },
	{ "election-timeout", 0, RT_CONF_DURATION, offsetof(struct mon_conf, election_timeout_us),
	  "1s", 100000, 60000000, false, "Raft election timeout", NULL, NULL },
	{ "raft-heartbeat", 0, RT_CONF_DURATION, offsetof(struct mon_conf, raft_heartbeat_us),
	  "100ms", 10000, 10000000, false, "Raft leader heartbeat interval", NULL, NULL },
	{ "snapshot-threshold", 0, RT_CONF_INT, offsetof(struct mon_conf, snapshot_threshold),
	  "1024", 2, 1000000, false, "take a Raft snapshot every N log entries", NULL, NULL },
	{ "snapshot-trailing", 0, RT_CONF_INT, offsetof(struct mon_conf, snapshot_trailing), "256",
	  1, 1000000, false, "log entries kept behind a snapshot (for lagging followers)", NULL,
	  NULL },
	{ "nearfull-ratio", 0, RT_CONF_INT, offsetof(struct mon_conf, nearfull_pct), "85", 1, 100,
	  true, "HEALTH_WARN when an OSD's usage reaches this percentage", NULL, "PCT" },
	{ "full-ratio", 0, RT_CONF_INT, offsetof(struct mon_conf, full_pct), "95", 1, 100, true,
	  "HEALTH_ERR when an OSD's usage reaches this percentage", NULL, "PCT" },
	{ "max-msg-size", 0, RT_CONF_SIZE, offsetof(struct mon_conf, max_msg_bytes), "1M", 4096,
	  4 << 20, false, "largest message accepted from a client or OSD", NULL, NULL },
	{ "log-file", 0, RT_CONF_STR, offsetof(struct mon_conf, log_file), NULL, 0, 0, false,
	  "log to this file instead of stderr", NULL, "PATH" },
	{ "log-level", 0, RT_CONF_STR, offsetof(struct mon_conf, log_level), "info", 0, 0, true,
	  "err, warn, info or debug", NULL, "LEVEL" },
	{ "debug", 0, RT_CONF_LIST, offsetof(struct mon_conf, debug), NULL, 0, 0, true,
	  "subsystems with debug output (mon, frame, ... or all)", NULL, "LIST" },
};

static const struct rt_conf_table mon_table = {
	.prog = "tessera-mon",
	.synopsis = "--id N --data DIR --listen ADDR [--peers ID=ADDR,...] [OPTIONS]",
	.description = "The Tessera monitor: keeps the cluster map (OSDs, pools, PG table, "
		       "volumes) replicated with Raft, detects OSD failures from heartbeats "
		       "and pushes each new map epoch to subscribers.",
	.opts = mon_opts,
	.n_opts = sizeof(mon_opts) / sizeof(mon_opts[0]),
};

static int
peer_parse(const char *s, struct mon_peer *p)
{
	char buf[256], *eq, *slash, *end;
	unsigned long id;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	eq = strchr(buf, '=');
	if (!eq)
		return -EINVAL;
	*eq = '\0';
	errno = 0;
	id = strtoul(buf, &end, 10);
	if (errno || *end || id < 1 || id > 255)
		return -EINVAL;
	p->id = (uint32_t)id;
	slash = strchr(eq + 1, '/');
	if (slash)
		*slash = '\0';
	if (mon_addr_parse(eq + 1, &p->addr) < 0)
		return -EINVAL;
	if (slash) {
		if (mon_addr_parse(slash + 1, &p->raft_addr) < 0)
			return -EINVAL;
	} else {
		if (p->addr.port > 65535 - 1000)
			return -EINVAL;
		p->raft_addr = p->addr;
		p->raft_addr.port = (uint16_t)(p->addr.port + 1000);
	}
	return 0;
}

static void
peer_fmt(struct mon_peer *p)
{
	bool v6 = strchr(p->raft_addr.host, ':') != NULL;

	snprintf(p->raft_str, sizeof(p->raft_str), "%s%s%s:%u", v6 ? "[" : "", p->raft_addr.host,
		 v6 ? "]" : "", p->raft_addr.port);
}

static int
setup_peers(struct mon *mon)
{
	struct mon_conf *c = &mon->conf;
	struct mon_peer self = { 0 };
	char buf[2048], *save = NULL;

	self.id = (uint32_t)c->id;
	if (mon_addr_parse(c->listen, &self.addr) < 0) {
		fprintf(stderr, "tessera-mon: --listen: '%s' is not HOST:PORT\n", c->listen);
		return -EINVAL;
	}
	if (c->raft_listen) {
		if (mon_addr_parse(c->raft_listen, &self.raft_addr) < 0) {
			fprintf(stderr, "tessera-mon: --raft-listen: '%s' is not HOST:PORT\n",
				c->raft_listen);
			return -EINVAL;
		}
	} else {
		if (self.addr.port > 65535 - 1000) {
			fprintf(stderr, "tessera-mon: listen port too high for the default raft "
					"port (+1000): use --raft-listen\n");
			return -EINVAL;
		}
		self.raft_addr = self.addr;
		self.raft_addr.port = (uint16_t)(self.addr.port + 1000);
	}
	peer_fmt(&self);
	mon->n_peers = 0;
	if (c->peers && *c->peers) {
		if (strlen(c->peers) >= sizeof(buf)) {
			fprintf(stderr, "tessera-mon: --peers too long\n");
			return -EINVAL;
		}
		strcpy(buf, c->peers);
		for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			struct mon_peer p = { 0 };

			if (peer_parse(tok, &p) < 0) {
				fprintf(stderr, "tessera-mon: --peers: bad entry '%s' (want "
						"ID=HOST:PORT[/RHOST:RPORT])\n",
					tok);
				return -EINVAL;
			}
			if (mon->n_peers >= MON_MAX_PEERS) {
				fprintf(stderr, "tessera-mon: at most %d monitors\n", MON_MAX_PEERS);
				return -EINVAL;
			}
			for (uint32_t i = 0; i < mon->n_peers; i++) {
				if (mon->peers[i].id == p.id) {
					fprintf(stderr, "tessera-mon: --peers: id %u twice\n", p.id);
					return -EINVAL;
				}
			}
			if (p.id == self.id) {
				/* This monitor: --listen / --raft-listen are authoritative. */
				p = self;
			}
			peer_fmt(&p);
			mon->peers[mon->n_peers++] = p;
		}
	}
	mon->self = UINT32_MAX;
	for (uint32_t i = 0; i < mon->n_peers; i++) {
		if (mon->peers[i].id == self.id)
			mon->self = i;
	}
	if (mon->self == UINT32_MAX) {
		if (mon->n_peers >= MON_MAX_PEERS)
			return -EINVAL;
		mon->self = mon->n_peers;
		mon->peers[mon->n_peers++] = self;
	}
	return 0;
}

static void
random_fsid(char *out, size_t len)
{
	unsigned char b[16] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
			memset(b, 0x5a, sizeof(b));
		close(fd);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

static void
on_init_done(void *ctx, int rc, uint64_t epoch)
{
	struct mon *mon = ctx;

	mon->init_pending = false;
	if (rc == 0)
		rt_info(RT_SS_MON, "cluster %s created at " DF_EPOCH, mon->map->fsid,
			DP_EPOCH(epoch));
}

static void
on_tick(uv_timer_t *t)
{
	struct mon *mon = t->data;
	bool raw = mon_raft_is_raw_leader(mon), leader;

	if (mon->stopping)
		return;
	if (raw && !mon->is_leader) {
		mon->is_leader = true;
		mon_raft_leader_barrier(mon);
	} else if (!raw && mon->is_leader) {
		mon->is_leader = false;
		mon->leader_ready = false;
		rt_info(RT_SS_MON, "mon.%u is no longer the leader", mon->peers[mon->self].id);
	}
	leader = mon_raft_is_leader(mon);
	if (leader && !mon->leader_active) {
		mon->leader_active = true;
		mon->leader_since_mono_us = mon_now_mono_us();
		rt_info(RT_SS_MON, "mon.%u is now the leader (map " DF_EPOCH ")",
			mon->peers[mon->self].id, DP_EPOCH(mon->map->epoch));
		/* Heartbeat times are not replicated: every OSD gets a fresh grace. */
		mon_live_reset(mon);
	} else if (!leader) {
		mon->leader_active = false;
	}
	if (leader && !mon->map->fsid[0] && !mon->init_pending) {
		char fsid[40], now[32], err[256];
		struct mon_cmd cmd;

		random_fsid(fsid, sizeof(fsid));
		snprintf(now, sizeof(now), "%llu", (unsigned long long)mon_now_real_us());
		mon_cmd_init(&cmd, "map init");
		mon_cmd_add(&cmd, "fsid", fsid);
		mon_cmd_add(&cmd, "now_us", now);
		if (mon_raft_propose(mon, &cmd, on_init_done, mon, err, sizeof(err)) == 0)
			mon->init_pending = true;
	}
	if (leader)
		mon_osd_tick(mon);
}

static void
on_stopped(struct mon *mon)
{
	uv_close((uv_handle_t *)&mon->tick, NULL);
	uv_close((uv_handle_t *)&mon->sig_term, NULL);
	uv_close((uv_handle_t *)&mon->sig_int, NULL);
}

/* Defer raft_close() out of whatever callback we are in (see the libraft notes). */
static void
on_stop_timer(uv_timer_t *t)
{
	struct mon *mon = t->data;

	uv_close((uv_handle_t *)t, (uv_close_cb)free);
	mon_net_stop(mon);
	mon_raft_stop(mon, on_stopped);
}

static void
mon_stop(struct mon *mon)
{
	uv_timer_t *t;

	if (mon->stopping)
		return;
	mon->stopping = true;
	rt_info(RT_SS_MON, "mon.%u shutting down", mon->peers[mon->self].id);
	uv_timer_stop(&mon->tick);
	t = malloc(sizeof(*t));
	if (!t) {
		mon_net_stop(mon);
		mon_raft_stop(mon, on_stopped);
		return;
	}
	uv_timer_init(mon->loop, t);
	t->data = mon;
	uv_timer_start(t, on_stop_timer, 0, 0);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	mon_stop(s->data);
}

int
main(int argc, char **argv)
{
	static struct mon mon_storage;
	struct mon *mon = &mon_storage;
	uint64_t tick_ms;
	int first = 0, rc, lvl;

	rc = rt_conf_parse(&mon_table, &mon->conf, argc, argv, &first);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	if (first < argc) {
		fprintf(stderr, "tessera-mon: unexpected argument '%s' (see --help)\n", argv[first]);
		return 2;
	}
	if (!mon->conf.data_dir || !*mon->conf.data_dir) {
		fprintf(stderr, "tessera-mon: --data DIR is required (see --help)\n");
		return 2;
	}
	lvl = rt_log_level_parse(mon->conf.log_level ? mon->conf.log_level : "info");
	if (lvl < 0) {
		fprintf(stderr, "tessera-mon: --log-level: '%s' is not err|warn|info|debug\n",
			mon->conf.log_level);
		return 2;
	}
	if (setup_peers(mon) < 0)
		return 2;
	rc = rt_log_init("tessera-mon", mon->conf.log_file, (enum rt_log_level)lvl);
	if (rc < 0) {
		fprintf(stderr, "tessera-mon: cannot open log: %s\n", rt_strerror(rc));
		return 1;
	}
	if (mon->conf.debug && *mon->conf.debug) {
		char buf[256], *save = NULL;

		snprintf(buf, sizeof(buf), "%s", mon->conf.debug);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (rt_log_set_debug(t, true) < 0)
				rt_warn(RT_SS_MON, "--debug: unknown subsystem '%s'", t);
		}
	}
	mon__self = mon;
	mon->loop = uv_default_loop();

	rc = mon_raft_start(mon);
	if (rc == 0)
		rc = mon_net_start(mon);
	if (rc < 0) {
		mon->stopping = true;
		uv_timer_init(mon->loop, &mon->tick);
		uv_signal_init(mon->loop, &mon->sig_term);
		uv_signal_init(mon->loop, &mon->sig_int);
		if (!uv_is_closing((uv_handle_t *)&mon->listener) && mon->listener.loop)
			uv_close((uv_handle_t *)&mon->listener, NULL);
		mon_raft_stop(mon, on_stopped);
		uv_run(mon->loop, UV_RUN_DEFAULT);
		rt_log_fini();
		return 1;
	}
	uv_signal_init(mon->loop, &mon->sig_term);
	mon->sig_term.data = mon;
	uv_signal_start(&mon->sig_term, on_signal, SIGTERM);
	uv_signal_init(mon->loop, &mon->sig_int);
	mon->sig_int.data = mon;
	uv_signal_start(&mon->sig_int, on_signal, SIGINT);
	signal(SIGPIPE, SIG_IGN);

	tick_ms = mon->conf.osd_grace_us / 10000;
	if (tick_ms > 100)
		tick_ms = 100;
	if (tick_ms < 10)
		tick_ms = 10;
	uv_timer_init(mon->loop, &mon->tick);
	mon->tick.data = mon;
	uv_timer_start(&mon->tick, on_tick, tick_ms, tick_ms);
	rt_info(RT_SS_MON, "mon.%u started: %u monitor(s), osd grace %llu ms, out after %llu ms",
		mon->peers[mon->self].id, mon->n_peers,
		(unsigned long long)(mon->conf.osd_grace_us / 1000),
		(unsigned long long)(mon->conf.osd_out_after_us / 1000));

	uv_run(mon->loop, UV_RUN_DEFAULT);
	free(mon->live);
	mon_pgstats_fini(&mon->pgstats);
	mon_osdperf_fini(&mon->osdperf);
	rt_info(RT_SS_MON, "mon stopped");
	rt_conf_free(&mon_table, &mon->conf);
	rt_log_fini();
	uv_loop_close(mon->loop);
	return 0;
}
