/*
 * Map commands: every change of the cluster map is one command, proposed by
 * the leader as a Raft log entry and applied by every monitor's state
 * machine, in log order, with mon_map_apply(). Apply is deterministic: it
 * depends only on the current map and the command (the leader puts wall-clock
 * values such as "now_us" into the arguments), so every monitor computes the
 * same map for the same epoch.
 *
 * A command is a name ("osd boot") and string arguments; mon_cmd_pb.c encodes
 * it as an AdminCommand protobuf for the log.
 *
 * Commands and their arguments:
 *   map init      fsid, now_us
 *   osd boot      uuid, [want_id], [has_want_id "1": want_id 0 is meant], host,
 *                 [failure_domain], [reactors "h:p,h:p"],
 *                 [weight], [device_bytes], now_us
 *   osd down      id, now_us              osd up is a boot
 *   osd out       id, [auto "1"]          osd in     id
 *   osd rm        id (must be down)       osd reweight  id, weight
 *   pool create   name, size, min_size, pg_count
 *   pool set      name, key (size|min_size|name), value
 *   pool rm       name
 *   vol create    name, pool, size, [object_size], [features]
 *   vol resize    name, size              vol rm     name
 *   vol rename    name, new_name
 */
#ifndef MON_CMD_H
#define MON_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "mon_map.h"

#define MON_CMD_MAX_ARGS 16

struct mon_cmd_arg {
	const char *key;
	const char *val;
};

/* Strings are borrowed: the caller keeps them alive while the command is used. */
struct mon_cmd {
	const char *name;
	uint32_t n_args;
	struct mon_cmd_arg args[MON_CMD_MAX_ARGS];
};

void mon_cmd_init(struct mon_cmd *c, const char *name);
/* Returns 0 or -E2BIG. */
int mon_cmd_add(struct mon_cmd *c, const char *key, const char *val);
/* The value of an argument, or NULL. */
const char *mon_cmd_arg(const struct mon_cmd *c, const char *key);

/* Limits checked by pool create / pool set. */
#define MON_POOL_MAX_PGS MON_MAX_PG_COUNT

/*
 * Apply cmd to cur. On success returns 0 and sets *out to a new map of epoch
 * cur->epoch + 1, or to NULL when the command changes nothing (no new epoch).
 * On failure returns a negative errno and writes a reason to err.
 * The caller owns *out.
 */
int mon_map_apply(const struct mon_map *cur, const struct mon_cmd *cmd, struct mon_map **out,
		  char *err, size_t err_len);

#endif
