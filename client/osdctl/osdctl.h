/*
 * osdctl internals: a blocking request/reply client for the monitors
 * (osdctl_net.c) used by the command table in osdctl.c.
 */
#ifndef OSDCTL_H
#define OSDCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "frame.h"
#include "rt_arena.h"

#define OSDCTL_MAX_MONS 16

struct osdctl_client {
	char mons[OSDCTL_MAX_MONS][80];
	uint32_t n_mons;
	uint32_t cur;       /* index of the monitor tried first */
	char leader[80];    /* redirect target, "" if none */
	int fd;
	uint64_t timeout_us;
	uint64_t next_tag;
	struct rt_arena arena;
	struct frame_limits lim;
	char err[512];
	bool single_try;    /* osdctl_call: no retry after a failed attempt (OSD targets) */
};

/* Parse "H:P,H:P". Returns 0 or -EINVAL. */
int osdctl_client_init(struct osdctl_client *c, const char *mons, uint64_t timeout_us);
void osdctl_client_fini(struct osdctl_client *c);

/*
 * Send a request and wait for its reply, following leader redirects and
 * retrying other monitors until the timeout. On success returns 0 and *reply
 * points into the client's arena (valid until the next call); *reply_type is
 * the reply's frame type. Returns a negative errno with c->err set otherwise.
 * Only transport failures and redirects are handled here: the caller reads
 * the reply's status.
 */
int osdctl_call(struct osdctl_client *c, uint16_t type, const ProtobufCMessage *req,
		uint16_t *reply_type, ProtobufCMessage **reply);

/* Keep the connection for several calls on the same monitor (fake OSD). */
int osdctl_send_only(struct osdctl_client *c, uint16_t type, const ProtobufCMessage *req);

/* Read the next frame of any kind on the current connection (map pushes). */
int osdctl_recv_any(struct osdctl_client *c, uint16_t *type, ProtobufCMessage **msg);

uint64_t osdctl_now_us(void);

/* osdctl_pg.c: `pg scrub PGID|POOL...` (ScrubPg straight to each PG's primary
 * reactor). Returns the exit code. */
int osdctl_pg_scrub(struct osdctl_client *cl, bool json, bool no_repair, char **pos, int n_pos);

/* osdctl_volume.c: `volume ...` through libtessera, and `bench` (execs tessera-bench). */
struct osdctl_vol_args {
	bool json;
	uint64_t timeout_us;
	const char *pool;
	uint64_t object_size;
	bool allow_shrink;
	bool existing;
	int64_t iodepth;
	bool progress;
};
int osdctl_volume(const char *mons, const struct osdctl_vol_args *a, const char *sub, char **pos,
		  int n_pos);
void osdctl_volume_usage(const char *sub, FILE *f);
/* The index of a `bench` command word in argv (0: none); *mon: the -m value or NULL. */
int osdctl_bench_find(int argc, char **argv, const char **mon);
int osdctl_bench(const char *mon_opt, int argc, char **argv, int first);

#endif
