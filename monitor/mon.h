/*
 * tessera-mon: the monitor daemon's state. One libuv loop runs everything:
 * the client/OSD listener (mon_net.c), Raft (mon_raft.c, libraft on the same
 * loop), the leader's failure detector (mon_osd_health.c) and the RPC
 * handlers (mon_rpc.c, mon_admin_rpc.c). No threads, no locks.
 *
 * Every map change goes through Raft: the leader validates a command against
 * its current map, appends it to the log, and every monitor applies it in
 * order (mon_map_apply). Only the leader answers writes and admin queries;
 * followers reply STATUS_ENOTLEADER with the leader's id and address. Any
 * monitor serves map reads and subscriptions from its applied map.
 *
 * Volatile state (heartbeat times, OSD usage, failure reports, PG states
 * reported in heartbeats) lives only on the leader and is rebuilt after an
 * election: a new leader gives every OSD a fresh grace period and shows
 * map-computed PG states until the next heartbeats.
 */
#ifndef MON_H
#define MON_H

#include <raft.h>
#include <raft/uv.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "frame.h"
#include "mon_cmd.h"
#include "mon_map.h"
#include "mon_osdperf.h"
#include "mon_pgstat.h"

#define MON_MAX_PEERS 7
#define MON_HISTORY 64 /* maps kept for GetMap(epoch) and incrementals */
#define MON_MAX_REPORTS 8

struct mon_conf {
	int64_t id;
	const char *data_dir;
	const char *listen;
	const char *raft_listen;
	const char *peers;
	uint64_t osd_grace_us;
	uint64_t osd_out_after_us;
	uint64_t hb_interval_us;
	int64_t min_reporters;
	uint64_t election_timeout_us;
	uint64_t raft_heartbeat_us;
	int64_t snapshot_threshold;
	int64_t snapshot_trailing;
	int64_t nearfull_pct;
	int64_t full_pct;
	uint64_t max_msg_bytes;
	const char *log_file;
	const char *log_level;
	const char *debug;
};

struct mon_peer {
	uint32_t id;
	struct mon_addr addr;      /* clients and OSDs */
	struct mon_addr raft_addr; /* monitor-to-monitor Raft traffic */
	char raft_str[MON_HOST_MAX + 16];
};

/* What the leader knows about an OSD beyond the map. */
struct mon_osd_live {
	uint32_t id;
	uint64_t last_hb_mono_us;
	uint64_t last_hb_real_us;
	uint64_t used_bytes;
	uint64_t device_bytes;
	uint64_t hb_epoch;
	bool down_pending;
	bool out_pending;
	uint32_t n_reports;
	struct {
		uint32_t reporter;
		uint64_t at_mono_us;
	} reports[MON_MAX_REPORTS];
};

struct mon_conn;

struct mon {
	uv_loop_t *loop;
	struct mon_conf conf;
	struct mon_peer peers[MON_MAX_PEERS];
	uint32_t n_peers;
	uint32_t self; /* index into peers */

	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport transport;
	struct raft_fsm fsm;
	char raft_dir[4096];
	bool raft_started;

	struct mon_map *map; /* the applied map */
	struct mon_map *hist[MON_HISTORY]; /* older maps, hist[epoch % MON_HISTORY] */

	uv_tcp_t listener;
	uv_timer_t tick;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	struct mon_conn *conns; /* list */
	uint32_t n_conns;
	bool stopping;
	bool is_leader;
	bool leader_ready;
	bool leader_active; /* failure detection state initialised for this term */ /* the barrier of our term is applied: the map is current */
	struct raft_barrier barrier;
	uint64_t leader_since_mono_us;
	bool init_pending;

	struct mon_osd_live *live;
	uint32_t n_live;
	uint32_t cap_live;
	struct mon_pgstats pgstats; /* PG states from heartbeats (leader only, soft) */
	struct mon_osdperf osdperf; /* OSD perf counters from heartbeats (leader only, soft) */
};

/* The one monitor of this process (signal and raft callbacks find it here). */
extern struct mon *mon__self;

uint64_t mon_now_mono_us(void);
uint64_t mon_now_real_us(void);

/* --- mon_net.c ------------------------------------------------------------- */
int mon_net_start(struct mon *mon);
void mon_net_stop(struct mon *mon);
/* Send a frame to a connection (queued on libuv). Returns 0 or -errno. */
int mon_conn_send(struct mon_conn *c, uint16_t type, uint64_t tag, uint8_t flags,
		  const ProtobufCMessage *msg);
void mon_conn_get(struct mon_conn *c);
void mon_conn_put(struct mon_conn *c);
bool mon_conn_is_open(const struct mon_conn *c);
/* Subscription state of a connection. */
void mon_conn_subscribe(struct mon_conn *c, uint64_t have_epoch, bool incremental);
void mon_conn_set_osd(struct mon_conn *c, uint32_t osd_id);
/*
 * Volume watches (VolumeWatch): a client that has a volume open registers a
 * watch on its connection; the watch goes with the connection. Adding an
 * existing (vol_id, client_id) pair or removing a missing one is a no-op.
 * Returns 0, -ENOMEM, -E2BIG (MON_MAX_WATCHES_PER_CONN reached).
 */
#define MON_MAX_WATCHES_PER_CONN 65536
struct mon_watch {
	uint64_t vol_id;
	uint64_t client_id;
};
int mon_conn_watch(struct mon_conn *c, uint64_t vol_id, uint64_t client_id, bool unwatch);
/* Watches on a volume over every open connection; *first_client (may be
 * NULL) is set to one watcher's client id when there is any. */
uint32_t mon_vol_watchers(struct mon *mon, uint64_t vol_id, uint64_t *first_client);
/* Push the newest map to subscribers (called after each applied epoch). */
void mon_net_publish(struct mon *mon, const struct mon_map *old, const struct mon_map *nw);

/* --- mon_raft.c ------------------------------------------------------------ */
int mon_raft_start(struct mon *mon);
/* Close Raft; done runs once everything Raft owns is closed. */
void mon_raft_stop(struct mon *mon, void (*done)(struct mon *mon));
bool mon_raft_is_leader(struct mon *mon);
/* Raft says leader, but the map may still lag (barrier pending). */
bool mon_raft_is_raw_leader(struct mon *mon);
/* Append a barrier; leader_ready is set once it is applied. */
void mon_raft_leader_barrier(struct mon *mon);
/* The leader's id (0 if unknown) and client address (NULL if unknown). */
uint32_t mon_raft_leader(struct mon *mon, const struct mon_addr **addr);
/* Monitors in quorum as seen by this leader: fills ids, returns the count. */
uint32_t mon_raft_quorum(struct mon *mon, uint32_t *ids);

typedef void (*mon_propose_cb)(void *ctx, int rc, uint64_t epoch);
/*
 * Validate cmd against the current map and append it to the Raft log.
 * Returns 0: cb runs exactly once, later, on the loop thread, when the entry is
 * applied (rc 0) or failed (rc < 0). Returns < 0: cb never runs; err says why
 * (-RT_ENOTLEADER, or the validation error).
 */
int mon_raft_propose(struct mon *mon, const struct mon_cmd *cmd, mon_propose_cb cb, void *ctx,
		     char *err, size_t err_len);

/* A map of an earlier epoch kept in history, or the current one; NULL if gone. */
const struct mon_map *mon_map_at(struct mon *mon, uint64_t epoch);

/* --- mon_osd_health.c ------------------------------------------------------ */
struct mon_osd_live *mon_live_get(struct mon *mon, uint32_t osd_id, bool create);
void mon_live_reset(struct mon *mon);
void mon_osd_heartbeat(struct mon *mon, uint32_t osd_id, uint64_t used_bytes,
		       uint64_t device_bytes, uint64_t epoch);
/* A PG state from a heartbeat (see mon_pgstat.h); returns mon_pgstats_report's code. */
int mon_osd_pg_report(struct mon *mon, uint32_t osd_id, uint64_t epoch, uint32_t pool,
		      uint32_t seed, const char *state);
/* How long a reported PG state is shown: the OSD grace. */
uint64_t mon_pg_report_max_age_us(const struct mon *mon);
/* A peer's report; returns 0 or -errno (ENOENT unknown ids, EINVAL self report). */
int mon_osd_failure_report(struct mon *mon, uint32_t reporter, uint32_t target);
void mon_osd_tick(struct mon *mon);
/* Health with the leader's volatile knowledge. */
struct mon_health;
void mon_health_now(struct mon *mon, struct mon_health *h);

/* --- mon_rpc.c / mon_admin_rpc.c ------------------------------------------- */
void mon_rpc_dispatch(struct mon_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg);
void mon_admin_dispatch(struct mon_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg);

#endif
