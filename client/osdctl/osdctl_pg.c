/*
 * osdctl commands that talk to OSDs directly: `pg scrub`.
 *
 * The monitor does not relay scrub requests: osdctl fetches the map from the
 * monitors (GetMap), finds the PG's primary and the reactor that owns the PG
 * (reactors[seed % n_reactors] of the primary, the address clients use for
 * the PG's ops), and sends it ScrubPg. The primary answers ScrubPgReply when
 * the scrub is done. STATUS_EAGAIN (the PG is peering, or a scrub met a new
 * peering round) and STATUS_ENOTPRIMARY (the map moved on) are retried with a
 * fresh map until --timeout; an unreachable primary is retried the same way
 * (it may be down and the map not updated yet).
 *
 * Arguments: one or more PGIDs (POOL.SEED, seed in hex) or pool names (every
 * PG of the pool). A word that parses as POOL.SEED of an existing pool id is
 * a PGID, anything else a pool name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mon.pb-c.h"
#include "mon_map.h"
#include "mon_map_pb.h"
#include "osd.pb-c.h"
#include "osdctl.h"
#include "rt_err.h"

struct scrub_res {
	uint32_t pool, seed, osd;
	int rc;
	char err[160];
	uint64_t objects, bytes, errors, repaired, unrepaired, duration_us;
};

static int
fetch_map(struct osdctl_client *cl, struct mon_map **out)
{
	Tessera__GetMap g = TESSERA__GET_MAP__INIT;
	const Tessera__MapReply *r;
	ProtobufCMessage *reply;
	uint16_t type;
	int rc;

	rc = osdctl_call(cl, FRAME_T_GET_MAP, &g.base, &type, &reply);
	if (rc < 0)
		return rc;
	r = (const Tessera__MapReply *)reply;
	if (type != FRAME_T_MAP_REPLY || r->status != TESSERA__STATUS__STATUS_OK || !r->map) {
		snprintf(cl->err, sizeof(cl->err), "the monitor refused the map request");
		return -EIO;
	}
	rc = mon_map_from_pb(r->map, out);
	if (rc < 0)
		snprintf(cl->err, sizeof(cl->err), "bad map from the monitor: %s", rt_strerror(rc));
	return rc;
}

/* Parse "POOL.SEED" (seed hex) naming an existing PG of m. */
static bool
parse_pgid(const struct mon_map *m, const char *s, uint32_t *pool, uint32_t *seed)
{
	unsigned long p, sd;
	const struct mon_pool *mp;
	char *end;

	errno = 0;
	p = strtoul(s, &end, 10);
	if (errno || end == s || *end != '.' || !end[1] || p > UINT32_MAX)
		return false;
	sd = strtoul(end + 1, &end, 16);
	if (errno || *end)
		return false;
	mp = mon_map_pool(m, (uint32_t)p);
	if (!mp || sd >= mp->pg_count)
		return false;
	*pool = (uint32_t)p;
	*seed = (uint32_t)sd;
	return true;
}

/* One ScrubPg to the PG's primary reactor, retried until the deadline. */
static void
scrub_one(struct osdctl_client *cl, struct mon_map **mp, uint64_t deadline, bool no_repair,
          struct scrub_res *res)
{
	int attempt = 0;

	res->rc = -ETIMEDOUT;
	while (osdctl_now_us() < deadline && attempt++ < 100000) {
		Tessera__ScrubPg m = TESSERA__SCRUB_PG__INIT;
		Tessera__PgId pid = TESSERA__PG_ID__INIT;
		const Tessera__ScrubPgReply *r;
		const struct mon_pool *pool = mon_map_pool(*mp, res->pool);
		const struct mon_osd *o;
		const struct mon_pg *pg;
		struct osdctl_client oc;
		ProtobufCMessage *reply;
		char addr[MON_HOST_MAX + 16];
		uint16_t type;
		int rc;

		if (!pool || res->seed >= pool->pg_count || !pool->pgs) {
			res->rc = -ENOENT;
			snprintf(res->err, sizeof(res->err), "pg does not exist any more");
			return;
		}
		pg = &pool->pgs[res->seed];
		o = pg->n_acting ? mon_map_osd(*mp, pg->acting[0]) : NULL;
		if (!o || !o->up || !o->n_reactors) {
			res->rc = -RT_EPGINACTIVE;
			snprintf(res->err, sizeof(res->err), "no up primary in map epoch %" PRIu64,
			         (*mp)->epoch);
			goto retry;
		}
		res->osd = o->id;
		{
			const struct mon_addr *a = &o->reactors[res->seed % o->n_reactors];
			bool v6 = strchr(a->host, ':') != NULL;

			snprintf(addr, sizeof(addr), "%s%s%s:%u", v6 ? "[" : "", a->host,
			         v6 ? "]" : "", a->port);
		}
		rc = osdctl_client_init(&oc, addr, deadline - osdctl_now_us());
		if (rc < 0) {
			res->rc = rc;
			snprintf(res->err, sizeof(res->err), "bad address %s in the map", addr);
			return;
		}
		pid.pool = res->pool;
		pid.seed = res->seed;
		m.epoch = (*mp)->epoch;
		m.pg = &pid;
		m.no_repair = no_repair;
		/* One attempt per connection: the retry loop here refreshes the map. */
		oc.single_try = true;
		rc = osdctl_call(&oc, FRAME_T_SCRUB_PG, &m.base, &type, &reply);
		if (rc < 0) {
			res->rc = rc;
			snprintf(res->err, sizeof(res->err), "osd.%u at %s: %s", o->id, addr,
			         rt_strerror(rc));
			osdctl_client_fini(&oc);
			goto retry;
		}
		if (type != FRAME_T_SCRUB_PG_REPLY) {
			res->rc = -EPROTO;
			snprintf(res->err, sizeof(res->err), "osd.%u: unexpected reply %s", o->id,
			         frame_type_name(type));
			osdctl_client_fini(&oc);
			return;
		}
		r = (const Tessera__ScrubPgReply *)reply;
		res->rc = frame_status_to_errno(r->status);
		res->objects = r->objects;
		res->bytes = r->bytes;
		res->errors = r->errors;
		res->repaired = r->repaired;
		res->unrepaired = r->unrepaired;
		res->duration_us = r->duration_us;
		osdctl_client_fini(&oc);
		if (res->rc == 0) {
			res->err[0] = '\0';
			return;
		}
		snprintf(res->err, sizeof(res->err), "osd.%u: %s", o->id, rt_strerror(res->rc));
		if (res->rc != -EAGAIN && res->rc != -RT_ENOTPRIMARY)
			return;
	retry:
		/* Peering, a map change or a primary going down: wait a little, new map. */
		usleep(100000);
		{
			struct mon_map *nm = NULL;

			if (fetch_map(cl, &nm) == 0) {
				mon_map_destroy(mp);
				*mp = nm;
			}
		}
	}
}

static void
print_res_json(const struct scrub_res *r, bool last)
{
	printf("    {\"pgid\": \"" DF_PG "\", \"pool\": %u, \"seed\": %u, \"primary\": %u, "
	       "\"status\": \"%s\", ",
	       r->pool, r->seed, r->pool, r->seed, r->osd, r->rc == 0 ? "ok" : "error");
	if (r->rc < 0)
		printf("\"error\": \"%s\", ", r->err);
	printf("\"objects\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"inconsistencies\": %" PRIu64
	       ", \"repaired\": %" PRIu64 ", \"unrepaired\": %" PRIu64 ", \"duration_us\": %" PRIu64
	       "}%s\n",
	       r->objects, r->bytes, r->errors, r->repaired, r->unrepaired, r->duration_us,
	       last ? "" : ",");
}

int
osdctl_pg_scrub(struct osdctl_client *cl, bool json, bool no_repair, char **pos, int n_pos)
{
	uint64_t deadline = osdctl_now_us() + cl->timeout_us;
	struct scrub_res *res = NULL;
	struct mon_map *m = NULL;
	uint64_t tot[5] = {0};
	size_t n = 0, cap = 0;
	int rc, failed = 0;

	if (n_pos < 1) {
		fprintf(stderr, "osdctl: pg scrub: expected PGID (POOL.SEED) or POOL ...\n");
		return 2;
	}
	rc = fetch_map(cl, &m);
	if (rc < 0) {
		fprintf(stderr, "osdctl: pg scrub: %s\n", cl->err);
		return rc == -ETIMEDOUT || rc == -ECONNREFUSED ? 3 : 1;
	}
	for (int i = 0; i < n_pos; i++) {
		uint32_t pool, seed, first, count;
		const struct mon_pool *p;

		if (parse_pgid(m, pos[i], &pool, &seed)) {
			first = seed;
			count = 1;
		} else if ((p = mon_map_pool_by_name(m, pos[i])) != NULL) {
			pool = p->id;
			first = 0;
			count = p->pg_count;
		} else {
			fprintf(stderr,
			        "osdctl: pg scrub: '%s' is neither an existing PGID "
			        "(POOL.SEED, seed in hex) nor a pool name\n",
			        pos[i]);
			free(res);
			mon_map_destroy(&m);
			return 1;
		}
		if (n + count > cap) {
			size_t nc = (n + count) * 2;
			struct scrub_res *nr = realloc(res, nc * sizeof(*nr));

			if (!nr) {
				free(res);
				mon_map_destroy(&m);
				return 1;
			}
			res = nr;
			cap = nc;
		}
		for (uint32_t s = 0; s < count; s++) {
			memset(&res[n], 0, sizeof(res[n]));
			res[n].pool = pool;
			res[n].seed = first + s;
			n++;
		}
	}
	if (!json)
		printf("%-10s %-8s %-8s %-12s %-8s %-8s %-10s %s\n", "PG", "PRIMARY", "OBJECTS",
		       "BYTES", "INCONS", "REPAIRED", "UNREPAIRED", "TIME");
	for (size_t i = 0; i < n; i++) {
		struct scrub_res *r = &res[i];

		scrub_one(cl, &m, deadline, no_repair, r);
		if (r->rc < 0) {
			failed++;
			fprintf(stderr, "osdctl: pg scrub " DF_PG ": %s\n", r->pool, r->seed,
			        r->err[0] ? r->err : rt_strerror(r->rc));
			if (!json)
				printf(DF_PG "%*s failed: %s\n", r->pool, r->seed, 6, "",
				       r->err[0] ? r->err : rt_strerror(r->rc));
			continue;
		}
		tot[0] += r->objects;
		tot[1] += r->bytes;
		tot[2] += r->errors;
		tot[3] += r->repaired;
		tot[4] += r->unrepaired;
		if (!json) {
			char id[24], prim[16];

			snprintf(id, sizeof(id), DF_PG, r->pool, r->seed);
			snprintf(prim, sizeof(prim), "osd.%u", r->osd);
			printf("%-10s %-8s %-8" PRIu64 " %-12" PRIu64 " %-8" PRIu64 " %-8" PRIu64
			       " %-10" PRIu64 " %.3f s\n",
			       id, prim, r->objects, r->bytes, r->errors, r->repaired,
			       r->unrepaired, (double)r->duration_us / 1e6);
		}
		fflush(stdout);
	}
	if (json) {
		printf("{\n  \"epoch\": %" PRIu64 ",\n  \"pgs\": [\n", m->epoch);
		for (size_t i = 0; i < n; i++)
			print_res_json(&res[i], i + 1 == n);
		printf("  ],\n  \"total\": {\"pgs\": %zu, \"failed\": %d, \"objects\": %" PRIu64
		       ", \"bytes\": %" PRIu64 ", \"inconsistencies\": %" PRIu64
		       ", \"repaired\": %" PRIu64 ", \"unrepaired\": %" PRIu64 "}\n}\n",
		       n, failed, tot[0], tot[1], tot[2], tot[3], tot[4]);
	} else {
		printf("total: %zu pgs scrubbed%s, %" PRIu64 " objects, %" PRIu64 " bytes, %" PRIu64
		       " inconsistencies, %" PRIu64 " repaired, %" PRIu64 " unrepaired%s\n",
		       n - (size_t)failed, failed ? " (some failed)" : "", tot[0], tot[1], tot[2],
		       tot[3], tot[4], no_repair ? " (--no-repair)" : "");
	}
	free(res);
	mon_map_destroy(&m);
	return failed ? 1 : 0;
}
