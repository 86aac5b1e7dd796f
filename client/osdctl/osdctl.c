/*
 * osdctl: the Tessera cluster CLI.
 *
 *   osdctl [-m ADDR[,ADDR...]] [--format plain|json] COMMAND [ARGS] [OPTIONS]
 *
 * Monitors come from -m, else $TESSERA_MON, else `mon = ...` in the file
 * given by --config (or $TESSERA_CONF). Every command is an AdminCommand to
 * the leader monitor, which answers with both JSON and text; osdctl prints
 * one of them. Exit codes: 0 success, 1 the cluster refused the request,
 * 2 usage error, 3 no monitor reachable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "mon.pb-c.h"
#include "mon_map.h"
#include "mon_map_pb.h"
#include "osdctl.h"
#include "rt_conf.h"
#include "rt_err.h"

enum { FMT_PLAIN, FMT_JSON };

struct osdctl_conf {
	const char *mon;
	int format;
	uint64_t timeout_us;
	int64_t size;
	int64_t min_size;
	int64_t pg_count;
	bool really;
	int64_t epoch;
	const char *uuid;
	const char *host;
	const char *failure_domain;
	const char *reactors;
	int64_t heartbeats;
	uint64_t interval_us;
	int64_t want_id;
	const char *pg_state;
	bool mark_down;
	bool no_repair;
	const char *pool;
	uint64_t object_size;
	bool allow_shrink;
	bool existing;
	int64_t iodepth;
	bool progress;
};

static const char *const formats[] = { "plain", "json", NULL };

static const struct rt_conf_opt opts[] = {
	{ "mon", 'm', RT_CONF_STR, offsetof(struct osdctl_conf, mon), NULL, 0, 0, false,
	  "monitor addresses HOST:PORT[,HOST:PORT...] (default: $TESSERA_MON)", NULL, "ADDRS" },
	{ "format", 'f', RT_CONF_ENUM, offsetof(struct osdctl_conf, format), "plain", 0, 0, false,
	  "output format", formats, NULL },
	{ "timeout", 't', RT_CONF_DURATION, offsetof(struct osdctl_conf, timeout_us), "10s", 1000,
	  3600000000LL, false, "give up when no monitor answers within this time", NULL, NULL },
	{ "size", 0, RT_CONF_INT, offsetof(struct osdctl_conf, size), "3", 1, 8, false,
	  "pool create: replica count", NULL, "N" },
	{ "min-size", 0, RT_CONF_INT, offsetof(struct osdctl_conf, min_size), "0", 0, 8, false,
	  "pool create: replicas needed to serve I/O (default: size - size/2)", NULL, "N" },
	{ "pg-count", 0, RT_CONF_INT, offsetof(struct osdctl_conf, pg_count), "64", 1, 65536,
	  false, "pool create: number of placement groups", NULL, "N" },
	{ "yes-i-really-mean-it", 0, RT_CONF_BOOL, offsetof(struct osdctl_conf, really), NULL, 0,
	  0, false, "pool rm: confirm the removal", NULL, NULL },
	{ "epoch", 'e', RT_CONF_INT, offsetof(struct osdctl_conf, epoch), "0", 0, INT64_MAX,
	  false, "map: the epoch to show (0: latest)", NULL, "N" },
	{ "uuid", 0, RT_CONF_STR, offsetof(struct osdctl_conf, uuid), NULL, 0, 0, false,
	  "debug fake-osd: the OSD uuid", NULL, "UUID" },
	{ "host", 0, RT_CONF_STR, offsetof(struct osdctl_conf, host), "localhost", 0, 0, false,
	  "debug fake-osd: host name", NULL, "NAME" },
	{ "failure-domain", 0, RT_CONF_STR, offsetof(struct osdctl_conf, failure_domain), NULL, 0,
	  0, false, "debug fake-osd: failure domain (default: host)", NULL, "NAME" },
	{ "reactors", 0, RT_CONF_STR, offsetof(struct osdctl_conf, reactors), "127.0.0.1:1", 0, 0,
	  false, "debug fake-osd: reactor addresses HOST:PORT,...", NULL, "ADDRS" },
	{ "heartbeats", 0, RT_CONF_INT, offsetof(struct osdctl_conf, heartbeats), "3", 0, 1000000,
	  false, "debug fake-osd: heartbeats to send before going silent", NULL, "N" },
	{ "interval", 0, RT_CONF_DURATION, offsetof(struct osdctl_conf, interval_us), "200ms",
	  1000, 60000000, false, "debug fake-osd: heartbeat interval", NULL, NULL },
	{ "want-id", 0, RT_CONF_INT, offsetof(struct osdctl_conf, want_id), "-1", -1, 1000000,
	  false, "debug fake-osd: id kept from an earlier boot (-1: none)", NULL, "N" },
	{ "pg-state", 0, RT_CONF_STR, offsetof(struct osdctl_conf, pg_state), NULL, 0, 0, false,
	  "debug fake-osd: report this state for every PG it is primary of in each heartbeat "
	  "(@FILE: read the state from FILE before each heartbeat)",
	  NULL, "STATE" },
	{ "mark-down", 0, RT_CONF_BOOL, offsetof(struct osdctl_conf, mark_down), NULL, 0, 0, false,
	  "debug fake-osd: after the heartbeats, stop cleanly (OsdMarkDown)", NULL, NULL },
	{ "no-repair", 0, RT_CONF_BOOL, offsetof(struct osdctl_conf, no_repair), NULL, 0, 0, false,
	  "pg scrub: report inconsistencies without repairing them", NULL, NULL },
	{ "pool", 0, RT_CONF_STR, offsetof(struct osdctl_conf, pool), NULL, 0, 0, false,
	  "volume create/import: the pool (default: rbd, else the only pool)", NULL, "NAME" },
	{ "object-size", 0, RT_CONF_SIZE, offsetof(struct osdctl_conf, object_size), "0", 0,
	  64 << 20, false, "volume create/import: object size, 64K..64M (0: 4M)", NULL, NULL },
	{ "allow-shrink", 0, RT_CONF_BOOL, offsetof(struct osdctl_conf, allow_shrink), NULL, 0, 0,
	  false, "volume resize: allow shrinking (deletes the data past the new size)", NULL,
	  NULL },
	{ "existing", 0, RT_CONF_BOOL, offsetof(struct osdctl_conf, existing), NULL, 0, 0, false,
	  "volume import: into an existing volume instead of a new one", NULL, NULL },
	{ "iodepth", 0, RT_CONF_INT, offsetof(struct osdctl_conf, iodepth), "8", 1, 256, false,
	  "volume import/export: requests in flight", NULL, "N" },
	{ "progress", 0, RT_CONF_BOOL, offsetof(struct osdctl_conf, progress), NULL, 0, 0, false,
	  "volume import/export: progress bar on stderr even when it is not a terminal", NULL,
	  NULL },
};

static const struct rt_conf_table table = {
	.prog = "osdctl",
	.synopsis = "[-m ADDRS] [--format plain|json] COMMAND [ARGS] [OPTIONS]",
	.description = "Manage a Tessera cluster through its monitors. Run "
		       "`osdctl COMMAND --help` for one command.",
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
};

enum cmd_kind { K_QUERY, K_CHANGE, K_FAKE_OSD, K_GET_MAP, K_SUBSCRIBE, K_PG_SCRUB, K_VOLUME,
	       K_BENCH };

struct osdctl_cmd {
	const char *words;   /* "pool create" */
	const char *args;    /* positional argument names, space separated ("name") */
	const char *usage;   /* positional part of the usage line */
	enum cmd_kind kind;
	const char *help;
	bool hidden;
};

static const struct osdctl_cmd cmds[] = {
	{ "status", "", "", K_QUERY, "cluster summary: health, monitors, OSDs, PGs", false },
	{ "health", "", "", K_QUERY, "HEALTH_OK / HEALTH_WARN / HEALTH_ERR with reasons", false },
	{ "mon ls", "", "", K_QUERY, "list monitors, the leader and the quorum", false },
	{ "osd ls", "", "", K_QUERY, "list OSDs with state, weight and addresses", false },
	{ "osd tree", "", "", K_QUERY, "OSDs grouped by failure domain", false },
	{ "osd out", "id", "ID", K_CHANGE, "mark an OSD out: its PGs move elsewhere", false },
	{ "osd in", "id", "ID", K_CHANGE, "mark an OSD in again", false },
	{ "osd down", "id", "ID", K_CHANGE, "mark an OSD down (it boots again if alive)", false },
	{ "osd rm", "id", "ID", K_CHANGE, "remove a down OSD from the map", false },
	{ "osd reweight", "id weight", "ID WEIGHT", K_CHANGE, "change an OSD's weight", false },
	{ "pool create", "name", "NAME", K_CHANGE,
	  "create a pool (--size N --min-size M --pg-count P)", false },
	{ "pool ls", "", "", K_QUERY, "list pools", false },
	{ "pool set", "name key value", "NAME KEY VALUE", K_CHANGE,
	  "set a pool property: size, min_size or name", false },
	{ "pool rm", "name", "NAME", K_CHANGE, "remove a pool (needs --yes-i-really-mean-it)", false },
	{ "pg ls", "pool", "[POOL]", K_QUERY, "list PGs with acting sets and states", false },
	{ "pg map", "pgid", "PGID", K_QUERY, "show one PG (PGID = POOL.SEED, seed in hex)", false },
	{ "pg scrub", "", "PGID|POOL...", K_PG_SCRUB,
	  "scrub PGs now on their primaries and report inconsistencies (--no-repair)", false },
	{ "osd perf", "id", "[ID]", K_QUERY,
	  "per-reactor ops, bytes, queue depth and latency percentiles of each OSD", false },
	{ "map", "", "", K_QUERY, "dump the cluster map (--epoch N for an older one)", false },
	{ "volume create", "", "NAME SIZE", K_VOLUME,
	  "create a volume (SIZE: 10G, 512M...; --pool P --object-size S)", false },
	{ "volume ls", "", "", K_VOLUME, "list volumes", false },
	{ "volume info", "", "NAME", K_VOLUME, "show one volume", false },
	{ "volume resize", "", "NAME SIZE", K_VOLUME,
	  "grow a volume, or shrink it with --allow-shrink", false },
	{ "volume rm", "", "NAME", K_VOLUME, "remove a volume and its data (refused while open)",
	  false },
	{ "volume rename", "", "NAME NEW", K_VOLUME, "rename a volume", false },
	{ "volume import", "", "FILE NAME", K_VOLUME,
	  "copy a file into a new volume (or --existing); --iodepth N --progress", false },
	{ "volume export", "", "NAME FILE", K_VOLUME, "copy a volume into a file", false },
	{ "bench", "", "NAME [OPTS]", K_BENCH,
	  "benchmark a volume with tessera-bench (osdctl bench --help)", false },
	{ "debug fake-osd", "", "", K_FAKE_OSD,
	  "test helper: boot an OSD (--uuid), send --heartbeats N every --interval, go silent",
	  true },
	{ "debug get-map", "", "", K_GET_MAP,
	  "test helper: GetMap from the first monitor given (any monitor serves it)", true },
	{ "debug subscribe", "", "", K_SUBSCRIBE,
	  "test helper: subscribe (incremental) and print each pushed epoch, --heartbeats N "
	  "pushes",
	  true },
};

static void
usage_all(FILE *f)
{
	rt_conf_usage(&table, f);
	fprintf(f, "\nCommands:\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char line[64];

		if (cmds[i].hidden)
			continue;
		snprintf(line, sizeof(line), "%s %s", cmds[i].words, cmds[i].usage);
		fprintf(f, "  %-28s %s\n", line, cmds[i].help);
	}
	fprintf(f, "\nExit status: 0 ok, 1 request refused, 2 usage error, 3 no monitor "
		   "reachable.\n");
}

static void
usage_cmd(const struct osdctl_cmd *c, FILE *f)
{
	fprintf(f, "Usage: osdctl [-m ADDRS] [--format plain|json] %s %s\n\n%s.\n", c->words,
		c->usage, c->help);
	if (strcmp(c->words, "pool create") == 0)
		fprintf(f, "\n  --size N        replica count (default 3)\n"
			   "  --min-size M    replicas needed for I/O (default size - size/2)\n"
			   "  --pg-count P    placement groups (default 64)\n");
	else if (strcmp(c->words, "pool rm") == 0)
		fprintf(f, "\n  --yes-i-really-mean-it   required: the pool's data is lost\n");
	else if (strcmp(c->words, "pg scrub") == 0)
		fprintf(f, "\n  PGID            POOL.SEED (seed in hex); a pool name scrubs all its PGs\n"
			   "  --no-repair     report inconsistencies only\n"
			   "  --timeout D     give up after D in all (default 10s; raise it for big "
			   "PGs)\n"
			   "Sent straight to each PG's primary (the map says where); retried while "
			   "the PG peers.\nExit 0 when every PG was scrubbed (the report says what "
			   "was found), 1 otherwise.\n");
	else if (strcmp(c->words, "osd perf") == 0)
		fprintf(f, "\n  ID              one OSD only (default: every OSD)\n"
			   "Counters and latency histograms as of the last heartbeat of each OSD "
			   "(lifetime\npercentiles; rates over the last heartbeat interval).\n");
	else if (c->kind == K_VOLUME)
		osdctl_volume_usage(c->words + 7, f);
	else if (strcmp(c->words, "map") == 0)
		fprintf(f, "\n  --epoch N       show epoch N (kept for the last 64 epochs)\n");
	else if (strcmp(c->words, "debug fake-osd") == 0)
		fprintf(f, "\n  --uuid U --host H --failure-domain D --reactors ADDRS\n"
			   "  --heartbeats N --interval D --want-id N\n"
			   "  --pg-state STATE|@FILE   report STATE for the PGs it is primary of\n"
			   "  --mark-down              stop cleanly: OsdMarkDown after the "
			   "heartbeats\n"
			   "Prints osd_id=N, then last_heartbeat_us=T (CLOCK_REALTIME) after each "
			   "heartbeat,\nand marked_down_us=T after a clean stop.\n");
	fprintf(f, "\nCommon options: -m ADDRS, --format plain|json, --timeout D, --config "
		   "FILE (see osdctl --help).\n");
}

/* Match the command words at the start of words[0..n). Returns the command or NULL. */
static const struct osdctl_cmd *
find_cmd(char **words, int n, int *used)
{
	const struct osdctl_cmd *best = NULL;
	int best_used = 0;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char buf[64], *save = NULL;
		int k = 0;
		bool ok = true;

		snprintf(buf, sizeof(buf), "%s", cmds[i].words);
		for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), k++) {
			if (k >= n || strcmp(words[k], w) != 0) {
				ok = false;
				break;
			}
		}
		if (ok && k > best_used) {
			best = &cmds[i];
			best_used = k;
		}
	}
	*used = best_used;
	return best;
}

static const char *
mon_from_config_file(void)
{
	static char line[512];
	const char *path = getenv("TESSERA_CONF");
	FILE *f;

	if (!path)
		return NULL;
	f = fopen(path, "r");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *eq;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "mon", 3) != 0)
			continue;
		eq = strchr(p, '=');
		if (!eq)
			continue;
		p = eq + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, " \t\r\n#")] = '\0';
		fclose(f);
		return *p ? p : NULL;
	}
	fclose(f);
	return NULL;
}

static int
exit_for(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EHOSTUNREACH ||
			       rc == -ENETUNREACH || rc == -ECONNRESET || rc == -RT_ENOQUORUM ||
			       rc == -RT_ENOTLEADER
		       ? 3
		       : 1;
}

static int
run_admin(struct osdctl_client *cl, const struct osdctl_conf *cf, const struct osdctl_cmd *c,
	  char **pos, int n_pos)
{
	Tessera__AdminCommand req = TESSERA__ADMIN_COMMAND__INIT;
	Tessera__AdminCommand__ArgsEntry e[8], *ep[8];
	char names[64], *save = NULL, num[4][32];
	const Tessera__AdminReply *r;
	ProtobufCMessage *reply;
	uint16_t type;
	size_t n = 0;
	int k = 0, rc, max_pos = 0;

	snprintf(names, sizeof(names), "%s", c->args);
	for (char *w = strtok_r(names, " ", &save); w; w = strtok_r(NULL, " ", &save))
		max_pos++;
	bool optional = strchr(c->usage, '[') != NULL;
	if (n_pos > max_pos || (!optional && n_pos < max_pos)) {
		fprintf(stderr, "osdctl: %s: expected %s%s\n", c->words,
			max_pos ? "arguments " : "no arguments", c->usage);
		return 2;
	}
	snprintf(names, sizeof(names), "%s", c->args);
	save = NULL;
	for (char *w = strtok_r(names, " ", &save); w && k < n_pos;
	     w = strtok_r(NULL, " ", &save), k++) {
		tessera__admin_command__args_entry__init(&e[n]);
		e[n].key = w;
		e[n].value = pos[k];
		ep[n] = &e[n];
		n++;
	}
	if (strcmp(c->words, "pool create") == 0) {
		snprintf(num[0], sizeof(num[0]), "%" PRId64, cf->size);
		snprintf(num[1], sizeof(num[1]), "%" PRId64, cf->pg_count);
		const char *keys[] = { "size", "pg_count" };
		for (int i = 0; i < 2; i++) {
			tessera__admin_command__args_entry__init(&e[n]);
			e[n].key = (char *)keys[i];
			e[n].value = num[i];
			ep[n] = &e[n];
			n++;
		}
		if (cf->min_size) {
			snprintf(num[2], sizeof(num[2]), "%" PRId64, cf->min_size);
			tessera__admin_command__args_entry__init(&e[n]);
			e[n].key = "min_size";
			e[n].value = num[2];
			ep[n] = &e[n];
			n++;
		}
	}
	if (strcmp(c->words, "pool rm") == 0) {
		if (!cf->really) {
			fprintf(stderr, "osdctl: pool rm: this destroys every volume and object of "
					"pool '%s'; add --yes-i-really-mean-it\n",
				pos[0]);
			return 2;
		}
		tessera__admin_command__args_entry__init(&e[n]);
		e[n].key = "confirm";
		e[n].value = pos[0];
		ep[n] = &e[n];
		n++;
	}
	if (strcmp(c->words, "map") == 0 && cf->epoch) {
		snprintf(num[3], sizeof(num[3]), "%" PRId64, cf->epoch);
		tessera__admin_command__args_entry__init(&e[n]);
		e[n].key = "epoch";
		e[n].value = num[3];
		ep[n] = &e[n];
		n++;
	}
	req.command = (char *)c->words;
	req.args = ep;
	req.n_args = n;

	rc = osdctl_call(cl, FRAME_T_ADMIN, &req.base, &type, &reply);
	if (rc < 0) {
		fprintf(stderr, "osdctl: %s: %s\n", c->words, cl->err);
		return exit_for(rc);
	}
	if (type != FRAME_T_ADMIN_REPLY) {
		fprintf(stderr, "osdctl: %s: unexpected reply type %s\n", c->words,
			frame_type_name(type));
		return 1;
	}
	r = (const Tessera__AdminReply *)reply;
	if (r->status != TESSERA__STATUS__STATUS_OK) {
		rc = frame_status_to_errno(r->status);
		fprintf(stderr, "osdctl: %s: %s\n", c->words,
			r->message && *r->message ? r->message : rt_strerror(rc));
		return exit_for(rc) == 3 ? 3 : 1;
	}
	if (cf->format == FMT_JSON)
		printf("%s\n", r->json ? r->json : "{}");
	else
		fputs(r->text ? r->text : "", stdout);
	return 0;
}

static uint64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The PG states a fake OSD reports in one heartbeat. */
struct fake_pgs {
	uint64_t epoch;
	char state[64];
	Tessera__PgStat *stats;
	Tessera__PgStat **pstats;
	size_t n;
};

static void
fake_pgs_free(struct fake_pgs *fp)
{
	free(fp->stats);
	free(fp->pstats);
	fp->stats = NULL;
	fp->pstats = NULL;
	fp->n = 0;
}

/*
 * Fetch the current map and list the PGs osd_id is primary of, each with the
 * state given (or read from @FILE), as a real OSD's heartbeat would.
 */
static int
fake_pgs_collect(struct osdctl_client *cl, const char *spec, uint32_t osd_id, struct fake_pgs *fp)
{
	Tessera__GetMap g = TESSERA__GET_MAP__INIT;
	const Tessera__MapReply *r;
	ProtobufCMessage *reply;
	struct mon_map *m = NULL;
	uint16_t type;
	size_t cap = 0;
	int rc;

	if (spec[0] == '@') {
		FILE *f = fopen(spec + 1, "r");

		if (!f || !fgets(fp->state, sizeof(fp->state), f)) {
			fprintf(stderr, "osdctl: fake-osd: cannot read a state from %s\n", spec + 1);
			if (f)
				fclose(f);
			return -EINVAL;
		}
		fclose(f);
		fp->state[strcspn(fp->state, " \t\r\n")] = '\0';
	} else {
		snprintf(fp->state, sizeof(fp->state), "%s", spec);
	}
	rc = osdctl_call(cl, FRAME_T_GET_MAP, &g.base, &type, &reply);
	if (rc < 0) {
		fprintf(stderr, "osdctl: fake-osd: get map: %s\n", cl->err);
		return rc;
	}
	r = (const Tessera__MapReply *)reply;
	if (type != FRAME_T_MAP_REPLY || r->status != TESSERA__STATUS__STATUS_OK || !r->map) {
		fprintf(stderr, "osdctl: fake-osd: get map refused\n");
		return -EIO;
	}
	rc = mon_map_from_pb(r->map, &m);
	if (rc < 0) {
		fprintf(stderr, "osdctl: fake-osd: bad map: %s\n", rt_strerror(rc));
		return rc;
	}
	fp->epoch = m->epoch;
	for (uint32_t p = 0; p < m->n_pools; p++)
		cap += m->pools[p].pg_count;
	fp->stats = calloc(cap + 1, sizeof(*fp->stats));
	fp->pstats = calloc(cap + 1, sizeof(*fp->pstats));
	if (!fp->stats || !fp->pstats) {
		mon_map_destroy(&m);
		fake_pgs_free(fp);
		return -ENOMEM;
	}
	for (uint32_t p = 0; p < m->n_pools; p++) {
		const struct mon_pool *pool = &m->pools[p];

		for (uint32_t s = 0; pool->pgs && s < pool->pg_count; s++) {
			Tessera__PgStat *st = &fp->stats[fp->n];

			if (!pool->pgs[s].n_acting || pool->pgs[s].acting[0] != osd_id)
				continue;
			tessera__pg_stat__init(st);
			st->pool = pool->id;
			st->seed = s;
			st->state = fp->state;
			fp->pstats[fp->n++] = st;
		}
	}
	mon_map_destroy(&m);
	return 0;
}

/*
 * A fake OSD for tests: boot, heartbeat N times, then stop heartbeating and
 * exit. Speaks the real OSD protocol (OsdBoot, OsdHeartbeat).
 */
static int
run_fake_osd(struct osdctl_client *cl, const struct osdctl_conf *cf)
{
	Tessera__OsdBoot b = TESSERA__OSD_BOOT__INIT;
	Tessera__Address addrs[16], *pa[16];
	char rbuf[512], *save = NULL;
	ProtobufCMessage *reply;
	uint16_t type;
	uint32_t id;
	int rc;

	if (!cf->uuid) {
		fprintf(stderr, "osdctl: debug fake-osd: --uuid is required\n");
		return 2;
	}
	b.uuid = (char *)cf->uuid;
	b.host = (char *)cf->host;
	b.failure_domain = (char *)(cf->failure_domain ? cf->failure_domain : "");
	if (cf->want_id >= 0) {
		b.want_id = (uint32_t)cf->want_id;
		b.has_want_id = true;
	}
	b.weight = 1.0;
	b.device_bytes = 1ull << 30;
	snprintf(rbuf, sizeof(rbuf), "%s", cf->reactors);
	for (char *t = strtok_r(rbuf, ",", &save); t && b.n_reactors < 16;
	     t = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(t, ':');

		if (!colon)
			return 2;
		*colon = '\0';
		tessera__address__init(&addrs[b.n_reactors]);
		addrs[b.n_reactors].host = t;
		addrs[b.n_reactors].port = (uint32_t)strtoul(colon + 1, NULL, 10);
		pa[b.n_reactors] = &addrs[b.n_reactors];
		b.n_reactors++;
	}
	b.reactors = pa;
	rc = osdctl_call(cl, FRAME_T_OSD_BOOT, &b.base, &type, &reply);
	if (rc < 0) {
		fprintf(stderr, "osdctl: fake-osd: %s\n", cl->err);
		return exit_for(rc);
	}
	if (type != FRAME_T_OSD_BOOT_REPLY ||
	    ((Tessera__OsdBootReply *)reply)->status != TESSERA__STATUS__STATUS_OK) {
		fprintf(stderr, "osdctl: fake-osd: boot refused: %s\n",
			type == FRAME_T_OSD_BOOT_REPLY ? ((Tessera__OsdBootReply *)reply)->message
						       : "unexpected reply");
		return 1;
	}
	id = ((Tessera__OsdBootReply *)reply)->osd_id;
	printf("osd_id=%u\n", id);
	fflush(stdout);
	for (int64_t i = 0; i < cf->heartbeats; i++) {
		Tessera__OsdHeartbeat hb = TESSERA__OSD_HEARTBEAT__INIT;
		struct fake_pgs fp = { 0 };

		usleep((useconds_t)cf->interval_us);
		hb.osd_id = id;
		hb.used_bytes = 1u << 20;
		hb.device_bytes = 1ull << 30;
		if (cf->pg_state) {
			rc = fake_pgs_collect(cl, cf->pg_state, id, &fp);
			if (rc < 0)
				return exit_for(rc);
			hb.epoch = fp.epoch;
			hb.pgs = fp.pstats;
			hb.n_pgs = fp.n;
		}
		rc = osdctl_call(cl, FRAME_T_OSD_HEARTBEAT, &hb.base, &type, &reply);
		fake_pgs_free(&fp);
		if (rc < 0) {
			fprintf(stderr, "osdctl: fake-osd: heartbeat: %s\n", cl->err);
			return exit_for(rc);
		}
		printf("last_heartbeat_us=%" PRIu64 "\n", real_us());
		fflush(stdout);
	}
	if (cf->mark_down) {
		Tessera__OsdMarkDown md = TESSERA__OSD_MARK_DOWN__INIT;
		const Tessera__Reply *r;

		md.osd_id = id;
		md.uuid = (char *)cf->uuid;
		rc = osdctl_call(cl, FRAME_T_OSD_MARK_DOWN, &md.base, &type, &reply);
		if (rc < 0) {
			fprintf(stderr, "osdctl: fake-osd: mark down: %s\n", cl->err);
			return exit_for(rc);
		}
		r = (const Tessera__Reply *)reply;
		if (type != FRAME_T_REPLY || r->status != TESSERA__STATUS__STATUS_OK) {
			fprintf(stderr, "osdctl: fake-osd: mark down refused: %s\n",
				type == FRAME_T_REPLY ? r->message : "unexpected reply");
			return 1;
		}
		printf("marked_down_us=%" PRIu64 "\n", real_us());
	}
	return 0;
}

/* GetMap from one monitor, no redirect: shows what that monitor has applied. */
static int
run_get_map(struct osdctl_client *cl, const struct osdctl_conf *cf)
{
	Tessera__GetMap g = TESSERA__GET_MAP__INIT;
	const Tessera__MapReply *r;
	ProtobufCMessage *reply;
	uint16_t type;
	int rc;

	g.epoch = (uint64_t)cf->epoch;
	rc = osdctl_call(cl, FRAME_T_GET_MAP, &g.base, &type, &reply);
	if (rc < 0) {
		fprintf(stderr, "osdctl: get-map: %s\n", cl->err);
		return exit_for(rc);
	}
	r = (const Tessera__MapReply *)reply;
	if (type != FRAME_T_MAP_REPLY || r->status != TESSERA__STATUS__STATUS_OK || !r->map) {
		fprintf(stderr, "osdctl: get-map: %s\n",
			type == FRAME_T_MAP_REPLY ? r->message : "unexpected reply");
		return 1;
	}
	printf("epoch=%" PRIu64 " osds=%zu pools=", r->map->epoch, r->map->n_osds);
	for (size_t i = 0; i < r->map->n_pools; i++)
		printf("%s%s", i ? "," : "", r->map->pools[i]->name);
	printf("\n");
	return 0;
}

/* Subscribe and print the pushes: "full EPOCH" or "inc FROM TO". */
static int
run_subscribe(struct osdctl_client *cl, const struct osdctl_conf *cf)
{
	Tessera__Subscribe sub = TESSERA__SUBSCRIBE__INIT;
	ProtobufCMessage *reply;
	uint16_t type;
	int rc;

	sub.have_epoch = (uint64_t)cf->epoch;
	sub.incremental = true;
	rc = osdctl_call(cl, FRAME_T_SUBSCRIBE, &sub.base, &type, &reply);
	if (rc < 0) {
		fprintf(stderr, "osdctl: subscribe: %s\n", cl->err);
		return exit_for(rc);
	}
	for (int64_t i = 0; i < cf->heartbeats; i++) {
		rc = osdctl_recv_any(cl, &type, &reply);
		if (rc < 0) {
			fprintf(stderr, "osdctl: subscribe: %s\n", rt_strerror(rc));
			return 1;
		}
		if (type == FRAME_T_MAP)
			printf("full %" PRIu64 "\n", ((Tessera__ClusterMap *)reply)->epoch);
		else if (type == FRAME_T_MAP_INC)
			printf("inc %" PRIu64 " %" PRIu64 "\n",
			       ((Tessera__MapIncremental *)reply)->from_epoch,
			       ((Tessera__MapIncremental *)reply)->to_epoch);
		else
			i--;
		fflush(stdout);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct osdctl_conf cf = { 0 };
	struct osdctl_client cl;
	const struct osdctl_cmd *c;
	const char *mons;
	int first = 0, used = 0, rc;
	bool help = false;

	/* `bench` passes its options to tessera-bench: dispatched before parsing. */
	rc = osdctl_bench_find(argc, argv, &mons);
	if (rc > 0)
		return osdctl_bench(mons, argc, argv, rc + 1);
	/* Per-command help: "osdctl pool create --help". */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			help = true;
	}
	if (help) {
		char *words[8];
		int n = 0;

		for (int i = 1; i < argc && n < 8; i++) {
			if (argv[i][0] != '-')
				words[n++] = argv[i];
		}
		c = find_cmd(words, n, &used);
		if (c) {
			usage_cmd(c, stdout);
			return 0;
		}
		usage_all(stdout);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help-md") == 0) {
			rt_conf_markdown(&table, stdout);
			return 0;
		}
	}
	rc = rt_conf_parse(&table, &cf, argc, argv, &first);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	if (first >= argc) {
		usage_all(stderr);
		return 2;
	}
	c = find_cmd(&argv[first], argc - first, &used);
	if (!c) {
		fprintf(stderr, "osdctl: unknown command '%s' (see osdctl --help)\n", argv[first]);
		return 2;
	}
	mons = cf.mon;
	if (!mons || !*mons)
		mons = getenv("TESSERA_MON");
	if (!mons || !*mons)
		mons = mon_from_config_file();
	if (!mons || !*mons) {
		fprintf(stderr, "osdctl: no monitor address: use -m HOST:PORT, $TESSERA_MON or "
				"'mon = HOST:PORT' in $TESSERA_CONF\n");
		return 2;
	}
	rc = osdctl_client_init(&cl, mons, cf.timeout_us);
	if (rc < 0) {
		fprintf(stderr, "osdctl: bad monitor list '%s': %s\n", mons,
			rc == -EINVAL ? "expected HOST:PORT[,HOST:PORT...]" : rt_strerror(rc));
		return 2;
	}
	if (c->kind == K_FAKE_OSD)
		rc = run_fake_osd(&cl, &cf);
	else if (c->kind == K_SUBSCRIBE)
		rc = run_subscribe(&cl, &cf);
	else if (c->kind == K_GET_MAP)
		rc = run_get_map(&cl, &cf);
	else if (c->kind == K_BENCH)
		rc = osdctl_bench(cf.mon, argc, argv, first + used);
	else if (c->kind == K_VOLUME) {
		struct osdctl_vol_args va = {
			.json = cf.format == FMT_JSON, .timeout_us = cf.timeout_us, .pool = cf.pool,
			.object_size = cf.object_size, .allow_shrink = cf.allow_shrink,
			.existing = cf.existing, .iodepth = cf.iodepth, .progress = cf.progress,
		};

		rc = osdctl_volume(mons, &va, c->words + 7, &argv[first + used],
				   argc - first - used);
	} else if (c->kind == K_PG_SCRUB)
		rc = osdctl_pg_scrub(&cl, cf.format == FMT_JSON, cf.no_repair, &argv[first + used],
				     argc - first - used);
	else
		rc = run_admin(&cl, &cf, c, &argv[first + used], argc - first - used);
	osdctl_client_fini(&cl);
	rt_conf_free(&table, &cf);
	return rc;
}
