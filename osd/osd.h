/*
 * tessera-osd internals.
 *
 * Threads:
 *  - the control thread (main) runs a reactor of its own (osd_mon.c): the
 *    monitor connection (boot, subscribe, heartbeats), SIGTERM (signalfd),
 *    and the publication of each new map to the data reactors;
 *  - N data reactors (osd_reactor.c), each on its own thread with its own
 *    io_uring ring, libstore partition, listening port, pools and PGs. PG
 *    (pool, seed) lives on reactor seed % N (rt_pg.h); every op for it runs
 *    start to finish there: receive, queue, libstore, replication, reply.
 *
 * Nothing is shared between threads except through messages
 * (rt_reactor_post): the control thread posts maps (refcounted, immutable)
 * and stats requests; the reactors post stats and exit notices back.
 *
 * Files: osd_main.c (options, device, start, stop), osd_mon.c (control
 * thread), osd_map.c (refcounted map), osd_reactor.c (reactor life, PG table,
 * connections, dispatch, map apply, stats), osd_op.c (client op validation,
 * op pool, replies), osd_primary.c (primary execution and replication
 * fan-out), osd_replica.c (RepOp apply, peer connections), osd_pglog.c (PG
 * log), osd_opq.c (per-object ordering).
 */
#ifndef OSD_H
#define OSD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common.pb-c.h"
#include "frame.h"
#include "mon_map.h"
#include "mon_osdperf.h"
#include "osd.pb-c.h"
#include "osd_ondisk.h"
#include "osd_opq.h"
#include "osd_pglog.h"
#include "osd_wire.h"
#include "rt_mempool.h"
#include "rt_msgr.h"
#include "rt_reactor.h"
#include "st.h"

#define OSD_MAX_REACTORS 64
#define OSD_MAX_REPLICAS MON_MAX_REPLICAS
#define OSD_HEAD_MAX 320 /* encoded header + message of a reply or RepOp */
#define OSD_PG_BUCKETS 256

#define DF_PGID "%u.%x"

struct osd_conf {
	const char *mon;
	const char *device;
	uint64_t size_bytes;
	int64_t cores;
	const char *listen_host;
	int64_t port_base;
	const char *host;
	const char *failure_domain;
	const char *weight;
	uint64_t object_bytes;
	int durability;
	bool no_direct;
	bool force_format;
	bool pin;
	bool busy_poll;
	int64_t pg_log_len;
	int64_t ops_per_reactor;
	uint64_t max_io_bytes;
	int64_t io_buffers;
	uint64_t op_timeout_us;
	uint64_t drain_timeout_us;
	uint64_t mon_retry_us;
	const char *log_file;
	const char *log_level;
	const char *debug;
	bool debug_hold_repops;
	uint64_t scrub_interval_us;
	uint64_t scrub_bytes_per_sec;
	uint64_t recovery_bytes_per_sec;
	bool recovery_blocking_pull;
};

/* An immutable map epoch shared by the control thread and every reactor. */
struct osd_map {
	_Atomic uint32_t ref;
	uint64_t epoch;
	struct mon_map *m;
	uint32_t n_msgs;
	struct rt_msg msgs[]; /* one per reactor, for the publication */
};

struct osd_map *osd_map_new(struct mon_map *m, uint32_t n_reactors);
void osd_map_get(struct osd_map *map);
/* Drop a reference (any thread); the last one frees the map. Sets *mapp NULL. */
void osd_map_put(struct osd_map **mapp);
/* Up members of an acting set (an OSD listed and up in the map). */
uint32_t osd_map_up_count(const struct osd_map *map, const struct mon_pg *pg);

struct osd_op;
struct osd_peer;
struct osd_peering;
struct osd_scrub;

struct osd_pg {
	uint32_t pool;
	uint32_t seed;
	struct osd_pg *hnext;
	struct osd_pglog log;
	struct osd_opq opq;
	/* From the newest map this reactor applied. */
	bool member;
	bool primary;
	uint32_t size, min_size, pg_count;
	uint32_t n_acting;
	uint32_t acting[OSD_MAX_REPLICAS];
	uint64_t map_epoch;
	struct osd_peering *pr; /* primary: peering and recovery state (osd_peering.c) */
	struct osd_scrub *sc;   /* primary: scrub state (osd_scrub.c) */
	/* Ops waiting for min_size up members or for peering (FIFO). */
	struct osd_op *wait_head, *wait_tail;
	/*
	 * Member side: a PgNotify log merge is persisting its entries one by one.
	 * RepOps and further merges of the PG wait behind it (FIFO through
	 * wait_next) so that no newer entry lands in the middle of the merge.
	 */
	bool merging;
	struct osd_op *mwait_head, *mwait_tail;
	/*
	 * Member side: a backfill into this OSD runs (its "pgbf." marker is
	 * persisted; loaded lazily from the store); bf_last, the oid it names.
	 */
	bool bf_marked;
	uint64_t bf_marked_us, bf_last;
	/* Primary side: a background pull into us runs ("pgpl." marker, value: our
	 * complete version when it started); see pg_needs_backfill(). */
	bool pl_marked, pl_loaded;
	uint64_t pl_since;
	/*
	 * The newest interval this OSD saw as a member: the map epoch in which the
	 * up members of the acting set last changed, and those members (persisted
	 * as "pgint."; loaded at start). Peering refuses to activate when members
	 * of the newest interval any member saw are down and could have served
	 * writes without the members up now (osd_peering.c, "incomplete").
	 */
	uint64_t int_epoch;
	uint32_t n_int_osds;
	uint32_t int_osds[OSD_MAX_REPLICAS];
	uint64_t int_noted_epoch; /* map epoch of the last osd_pg_interval_note */
	bool int_loaded, int_live, int_saving, int_dirty;
	struct st_req int_req;
	struct osd_pgmark_disk int_rec;
	char int_key[OSD_PGLOG_KEY_MAX];
	/* Counters. */
	uint64_t ops, writes;
};

/* A connection accepted by a reactor's listener (a client or a primary). */
struct osd_conn {
	struct osd_reactor *r;
	struct rt_conn *c;
	struct osd_op *rx_op; /* allocated by alloc_data for the frame being received */
	/* Back-pressure (osd_replica.c): a RepOp or push whose data has no buffer
	 * yet; the connection reads nothing until a buffer or an op comes back. */
	bool data_waiting;   /* on r->connwait_head's list */
	bool resume_pending; /* resume_msg deferred; it frees oc if closed meanwhile */
	bool closed;         /* on_close ran while resume_pending */
	struct osd_conn *wait_next;
	struct rt_msg resume_msg;
	struct rt_msgr_send busy_send;
	bool busy_inflight;
	uint8_t busy_head[OSD_HEAD_MAX];
};

/* Per-reactor counters (written only by the reactor). */
struct osd_rstats {
	uint64_t ops, reads, writes, rep_ops;
	uint64_t read_bytes, write_bytes;
	uint64_t dups, stale, notprimary, einval, eagain, errors;
	uint64_t conns_accepted, conns_bad;
	uint64_t scrubs, scrub_objects, scrub_errors, scrub_repaired;
	uint64_t stale_pushes; /* ObjectPushes ignored: the object is newer here */
	uint64_t data_waits;   /* RepOp/push data that waited for a buffer (back-pressure) */
	uint64_t bg_pulled, bg_pulled_ondemand; /* objects pulled by a primary after activation */
	/* Per op class (enum mon_perf_class): answered ops, bytes, latency histogram
	 * from the op's arrival to its reply (osd_perf_record). */
	struct mon_perf_hist lat[MON_PERF_NCLASS];
};

/* One PG's line in a heartbeat. */
struct osd_hb_pg {
	uint32_t pool, seed;
	const char *state;
	uint64_t ops;
};

struct osd;

struct osd_reactor {
	struct osd *osd;
	uint32_t idx;
	struct rt_reactor *r;
	pthread_t thread;
	bool thread_started;
	struct st_store *st;
	struct rt_msgr *msgr;
	struct rt_listener *listener;
	uint16_t port;
	uint32_t max_object_bytes;

	struct osd_map *map; /* referenced; NULL before the first */
	struct osd_pg *pgs[OSD_PG_BUCKETS];
	uint32_t n_pgs;

	struct rt_mempool *op_pool;
	struct rt_mempool *buf_pool;
	size_t buf_bytes;
	uint32_t n_ops; /* ops allocated */
	uint32_t n_ops_max; /* peak of n_ops since the last heartbeat collection */
	struct osd_op *bufwait_head, *bufwait_tail; /* reads waiting for a buffer */
	struct osd_conn *connwait_head, *connwait_tail; /* RepOp data waiting for a buffer */
	uint64_t next_tag;
	struct osd_peer *peers;

	bool stopping;
	struct rt_timer drain_timer;
	struct rt_msg stop_msg;
	struct rt_msg exit_msg;
	struct rt_msg ident_msg;
	struct st_req ident_req;

	struct osd_rstats stats;

	/* Scrub (osd_scrub.c): background schedule, rate limit, steps in flight. */
	struct rt_timer scrub_timer;
	bool scrub_bg_running;
	uint64_t scrub_next_us;
	uint64_t scrub_start_us;
	uint32_t scrub_inflight;
	uint32_t bg_inflight; /* background pull requests and writes in flight (osd_peering.c) */

	/* Heartbeat stats: filled on request, read by the control thread after. */
	struct rt_msg hb_req_msg, hb_done_msg;
	struct osd_rstats hb_stats;
	uint32_t hb_inflight, hb_inflight_max;
	struct st_statfs hb_statfs;
	struct osd_hb_pg *hb_pgs;
	uint32_t hb_n_pgs, hb_cap_pgs;
	uint64_t hb_epoch; /* the epoch of the map the hb_pgs states were computed from */

	int start_rc;
};

struct osd {
	struct osd_conf conf;
	uint32_t n_reactors;
	struct osd_reactor *reactors[OSD_MAX_REACTORS];
	uint64_t device_bytes;
	uint64_t part_bytes;
	char uuid[OSD_UUID_LEN + 1];
	struct osd_ident_disk ident; /* as stored in partition 0 */
	uint32_t osd_id;
	double weight;

	/* Start-up handshake with the reactor threads (control path only). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t n_ready; /* protected by lock */

	/* Control thread. */
	struct rt_reactor *ctl;
	struct rt_msgr *ctl_msgr;
	char mons[16][80];
	uint32_t n_mons, cur_mon;
	struct rt_conn *mon_conn;
	bool booted;
	uint64_t boot_tag, sub_tag;
	uint64_t next_tag;
	uint64_t hb_interval_us;
	struct rt_timer hb_timer;
	struct rt_timer retry_timer;
	uint64_t hb_tag;
	uint64_t boot_epoch;
	uint32_t n_started; /* reactors whose thread runs (exit notices expected) */
	struct osd_map *map; /* newest map (referenced) */
	uint32_t hb_pending;  /* reactors yet to answer a stats request */
	bool stopping;
	uint32_t n_exited;
	int sig_fd;
	struct rt_io sig_io;
	uint8_t sig_buf[128];
	int exit_rc;
};

/* --- osd_map.c ------------------------------------------------------------- */
const struct mon_osd *osd_map_osd(const struct osd_map *map, uint32_t id);

/* --- osd_reactor.c --------------------------------------------------------- */
int osd_reactor_create(struct osd *osd, uint32_t idx, struct osd_reactor **out);
int osd_reactor_thread_start(struct osd_reactor *r);
void osd_reactor_free(struct osd_reactor **rp);
/* Posted by the control thread. */
void osd_reactor_apply_map(void *ctx);
void osd_reactor_stop_msg(void *ctx);
void osd_reactor_hb_collect(void *ctx);
void osd_reactor_save_ident(void *ctx);
struct osd_pg *osd_pg_find(struct osd_reactor *r, uint32_t pool, uint32_t seed);
/*
 * Record that the PG's current interval (the up members of its acting set in
 * the reactor's map) went active with this OSD in it: as primary at
 * activation, as a replica at a RepOp of the current epoch. Persisted (async)
 * when it changes; cheap when nothing changed (the I/O path calls it).
 */
void osd_pg_interval_note(struct osd_reactor *r, struct osd_pg *pg);
struct osd_pg *osd_pg_get(struct osd_reactor *r, uint32_t pool, uint32_t seed);
/* Drain check: stop the loop if stopping and nothing is in flight. */
void osd_reactor_maybe_stopped(struct osd_reactor *r);
const char *osd_pg_state(const struct osd_reactor *r, const struct osd_pg *pg);

/* --- osd_op.c -------------------------------------------------------------- */
enum osd_op_kind {
	OSD_OP_CLIENT = 0,
	OSD_OP_REPLICA = 1,
};

/*
 * A request to a peer OSD that awaits a reply (matched by frame tag). cb runs
 * exactly once: with rc 0 and the reply, or with the connection's close
 * reason (hdr/msg NULL). A reply's data segment lands in rx_buf if it fits.
 */
struct osd_preq;
typedef void (*osd_preq_cb)(struct osd_preq *q, int rc, const struct frame_hdr *hdr,
			    ProtobufCMessage *msg, const struct iovec *data, int data_cnt);
struct osd_preq {
	struct osd_peer *peer;
	struct osd_preq *pnext, *pprev; /* peer's list of replies awaited */
	uint64_t tag;
	bool awaiting;
	osd_preq_cb cb;
	void *rx_buf;
	uint32_t rx_cap;
	struct rt_msgr_send send;
	struct iovec iov;
	uint8_t head[OSD_HEAD_MAX];
};

/* One replica's part of a replicated write. */
struct osd_rep {
	struct osd_preq q;
	struct osd_op *op;
	uint32_t osd_id;
};

struct osd_op {
	struct osd_reactor *r;
	enum osd_op_kind kind;
	struct rt_conn *conn; /* referenced */
	uint64_t tag;
	uint8_t hdr_flags;
	struct osd_pg *pg;

	/* The request. */
	uint32_t type; /* Tessera__OpType */
	uint64_t client_id, req_id, epoch;
	uint64_t client_req_id; /* RepOp: the client's request id, for the log entry */
	struct st_obj_id obj;
	uint32_t pg_seed;
	uint64_t off, len;
	uint32_t flags;

	/* Data: the write segment (or compare + write), or the read buffer. */
	void *buf;
	uint64_t data_len;
	void *buf2; /* compare-and-write: the current contents */

	/* Execution. */
	struct osd_opq_ent qe;
	bool in_opq;
	bool started;
	bool replied;
	bool waiting; /* on the PG's min_size list */
	bool rec_skip; /* its RepOps skipped a member recovered in the background */
	uint64_t version;
	int rc;
	int rep_rc;
	uint32_t pending; /* sub-operations of the current phase */
	uint32_t refs;    /* outstanding async work + 1 until the op is finished */
	uint16_t log_slot;
	bool log_fixed;
	uint64_t miscompare_off;
	uint64_t object_size;
	uint64_t start_us;
	uint32_t n_reps;
	struct osd_op *wait_next;
	struct osd_op *buf_next;
	void *aux; /* member-side jobs: a malloc'd work list */
	uint32_t aux_n, aux_i;

	struct st_req sreq;
	struct st_req lreq;
	struct osd_pglog_disk lrec;
	char lkey[OSD_PGLOG_KEY_MAX];

	struct osd_rep reps[OSD_MAX_REPLICAS];

	struct rt_msgr_send rsend;
	struct iovec riov;
	uint8_t rhead[OSD_HEAD_MAX];

	struct rt_timer timer;
	struct rt_msg defer;
};

/* An op from the pool (zeroed header fields), referencing conn. NULL if empty. */
struct osd_op *osd_op_alloc(struct osd_reactor *r, struct rt_conn *conn);
/* Drop one reference; the last frees the op (buffers, queue slot, conn). */
void osd_op_put(struct osd_op *op);
/* A data buffer from the pool, or NULL. */
void *osd_buf_get(struct osd_reactor *r);
/* Return a buffer: it goes to the first op waiting for one, else to the pool. */
void osd_buf_put(struct osd_reactor *r, void **bufp);
/* Park op until a buffer comes back (osd_primary_buf_ready then resumes it). */
void osd_buf_wait(struct osd_reactor *r, struct osd_op *op);

/* Frames that arrive on a listener connection. */
void osd_client_op_recv(struct osd_conn *oc, const struct frame_hdr *hdr,
			const Tessera__ClientOp *m, const struct iovec *data, int data_cnt);
int osd_client_op_alloc_data(struct osd_conn *oc, const struct frame_hdr *hdr,
			     const ProtobufCMessage *msg, struct iovec *iov, int max_iov);
/* Reply to a client op (once) and drop the op's base reference. */
void osd_op_reply(struct osd_op *op, int rc);
/* Reply without an op (pool exhausted): uses the connection's spare send. */
void osd_conn_reply_busy(struct osd_conn *oc, uint16_t req_type, uint64_t tag, uint64_t req_id,
			 int rc);
/* Apply op's mutation to the local store (op->sreq). Takes a reference. Returns 0 or -errno. */
int osd_op_submit_local(struct osd_op *op, st_req_cb cb);
bool osd_op_is_mutation(uint32_t type);
/* Count op (answered now with rc) in its class's counters and latency histogram. */
void osd_perf_record(struct osd_op *op, int rc);
/* Validate offset/length/data of an object op. Returns 0 or -EINVAL/-ERANGE. */
int osd_op_check_range(const struct osd_op *op);

/* --- osd_primary.c --------------------------------------------------------- */
/* Queue a validated client op on its PG and start it when its turn comes. */
void osd_primary_submit(struct osd_op *op);
/* A finished op leaves its PG's queue (called by osd_op_put). */
void osd_primary_op_released(struct osd_op *op);
/* Restart the ops waiting on the PG (a map change, the end of peering). */
void osd_primary_resume(struct osd_reactor *r, struct osd_pg *pg);
/* A buffer for an op parked by osd_buf_wait: resume it on the next iteration. */
void osd_primary_buf_ready(struct osd_op *op, void *buf);
/* Answer every op waiting for min_size with rc (shutdown). */
void osd_primary_fail_waiting(struct osd_reactor *r, struct osd_pg *pg, int rc);
/* A replica's answer (or its connection's failure) for rep. */
void osd_primary_rep_done(struct osd_rep *rep, int rc);
/* Submit the PG log record of op (slot op->log_slot). Returns 0 (cb will run; takes a
 * reference), 1 (nothing to write: the slot holds a newer entry) or -errno. */
int osd_pglog_persist(struct osd_op *op, st_req_cb cb);

/* --- osd_replica.c --------------------------------------------------------- */
/* Apply a RepOp that waited behind a log merge (osd_member_rep_defer). */
void osd_replica_rep_resume(struct osd_op *op);
void osd_replica_op_recv(struct osd_conn *oc, const struct frame_hdr *hdr,
			 const Tessera__RepOp *m, const struct iovec *data, int data_cnt);
/* Data placement of a RepOp or an ObjectPush: a pool buffer, or RT_MSGR_DATA_WAIT
 * (the connection waits for one: back-pressure, the RepOp is never refused for it). */
int osd_replica_alloc_data(struct osd_conn *oc, const struct frame_hdr *hdr,
			   const ProtobufCMessage *msg, struct iovec *iov, int max_iov);
/* A buffer or an op came back (or the reactor stops): resume one waiting connection. */
void osd_replica_conn_kick(struct osd_reactor *r);
/* The connection closes: off the wait list. Returns true if oc must not be freed
 * yet (a deferred resume frees it). */
bool osd_replica_conn_closing(struct osd_conn *oc);
/* Client writes leave this many buffers to RepOps and pushes (no deadlock: those
 * never wait on the network while they hold one). */
#define OSD_BUF_RESERVE(r)                                                                         \
	((r)->osd->conf.io_buffers / 4 > 0 ? (uint32_t)((r)->osd->conf.io_buffers / 4) : 1u)
/* A buffer for a client op's data: NULL if only the reserve is left. */
void *osd_buf_get_client(struct osd_reactor *r);
/* The connection to reactor (seed % n) of OSD osd_id, made on demand. */
struct osd_peer *osd_peer_get(struct osd_reactor *r, uint32_t osd_id, uint32_t seed);
/* Send q->send (prepared by the caller, tag q->tag) and await the reply. Returns 0
 * (q->cb runs later, exactly once) or -errno (it never runs). */
int osd_peer_send(struct osd_peer *p, struct osd_preq *q);
void osd_peers_close_all(struct osd_reactor *r);

/* Reply to a member-side request (FRAME_F_REPLY, tag op->tag) with msg and data
 * from op's buffers; drops op's base reference. */
void osd_replica_send_reply(struct osd_op *op, uint16_t type, const ProtobufCMessage *msg,
			    const struct iovec *data, int data_cnt);

/* --- osd_peering.c --------------------------------------------------------- */
/* Peer the PG (this OSD is its primary): ops wait until it is active again. */
void osd_peering_start(struct osd_reactor *r, struct osd_pg *pg);
void osd_peering_free(struct osd_reactor *r, struct osd_pg *pg);
bool osd_pg_is_active(const struct osd_pg *pg);
/* "peering" / "recovering" / "backfilling" while a round runs,
 * "active+recovering+degraded" during background recovery, else NULL. */
const char *osd_pg_peering_state(const struct osd_pg *pg);
/*
 * Background recovery of one member (the "async recovery target"): while it
 * runs, mutations send no RepOp to that member (osd_rec_skips), count one
 * member fewer towards min_size, and report their object when they finish
 * (osd_rec_mutation_begin/done) so that it is pushed again. While the final
 * log push is in flight (osd_rec_switching) mutations wait.
 */
bool osd_rec_skips(const struct osd_pg *pg, uint32_t osd_id);
/*
 * The primary is still pulling obj in the background (it was behind): the op
 * must wait on the PG (osd_primary_resume re-runs it once obj is here). Asks
 * for obj first.
 */
bool osd_rec_obj_missing(struct osd_pg *pg, struct st_obj_id obj);
bool osd_rec_switching(const struct osd_pg *pg);
void osd_rec_mutation_begin(struct osd_pg *pg);
void osd_rec_mutation_done(struct osd_pg *pg, struct st_obj_id obj);
/* Member side. */
void osd_member_pg_query(struct osd_conn *oc, const struct frame_hdr *hdr,
			 const Tessera__PgQuery *m);
/* True if RepOp op must wait for its PG's log merge: it is queued and
 * osd_replica_rep_resume(op) runs once the merge is persisted. */
bool osd_member_rep_defer(struct osd_op *op);
void osd_member_pg_notify(struct osd_conn *oc, const struct frame_hdr *hdr,
			  const Tessera__PgNotify *m);
void osd_member_obj_pull(struct osd_conn *oc, const struct frame_hdr *hdr,
			 const Tessera__ObjectPull *m);
void osd_member_obj_push(struct osd_conn *oc, const struct frame_hdr *hdr,
			 const Tessera__ObjectPush *m, const struct iovec *data, int data_cnt);
void osd_member_pg_list(struct osd_conn *oc, const struct frame_hdr *hdr,
			const Tessera__PgListObjects *m);
/*
 * Ask member osd_id for a chunk of object oid of pg (ObjectPull, this map's
 * epoch): len_bytes from off_bytes (cut at the object's end; off_bytes must
 * lie inside it); the ObjectPush reply's data lands in buf (buf_cap bytes).
 * q is reset and gets a new tag and cb. Returns 0: cb runs exactly once,
 * later; returns <0: cb never runs (-EHOSTUNREACH: no connection to osd_id
 * can be made).
 */
int osd_obj_pull_send(struct osd_reactor *r, const struct osd_pg *pg, uint32_t osd_id,
		      uint64_t oid, uint64_t off_bytes, uint64_t len_bytes, void *buf,
		      size_t buf_cap, struct osd_preq *q, osd_preq_cb cb);
/* Whether len bytes (a multiple of 8) at p are all zero: such a pulled or pushed
 * chunk is applied as write-zeroes. */
bool osd_buf_is_zero(const void *p, size_t len);

/* --- osd_scrub.c ----------------------------------------------------------- */
/* Start the background schedule (--scrub-interval) on the reactor. */
void osd_scrub_reactor_start(struct osd_reactor *r);
void osd_scrub_reactor_stop(struct osd_reactor *r);
void osd_scrub_free(struct osd_reactor *r, struct osd_pg *pg);
/* Scrub the PG (this OSD its primary) now; conn/tag (or NULL) get a ScrubPgReply. */
int osd_scrub_request(struct osd_reactor *r, struct osd_pg *pg, struct rt_conn *conn,
		      uint64_t tag, bool repair);
/* "+scrubbing" / "+inconsistent" suffix state, or NULL. */
const char *osd_scrub_state(const struct osd_pg *pg);
void osd_member_scrub_read(struct osd_conn *oc, const struct frame_hdr *hdr,
			   const Tessera__ScrubRead *m);
void osd_scrub_pg_recv(struct osd_conn *oc, const struct frame_hdr *hdr,
		       const Tessera__ScrubPg *m);
/* A scrub entry of the PG's op queue is done (osd_primary.c). */
void osd_primary_opq_done(struct osd_pg *pg, struct osd_opq_ent *e);

/* --- osd_mon.c ------------------------------------------------------------- */
int osd_mon_start(struct osd *osd);
void osd_mon_stop(struct osd *osd);
/* Posted by a reactor. */
void osd_ctl_hb_part(void *ctx);
void osd_ctl_reactor_exited(void *ctx);

/* Version <-> proto. */
static inline void
osd_version_to_pb(uint64_t v, Tessera__Version *pb)
{
	pb->epoch = osd_version_epoch(v);
	pb->seq = osd_version_seq(v);
}

#endif
