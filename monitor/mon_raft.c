/*
 * Raft glue: libraft (canonical raft 0.15) on the monitor's libuv loop.
 *
 * The state machine is the cluster map. A log entry is one map command
 * (mon_cmd.h, packed as an AdminCommand); apply runs mon_map_apply() and
 * publishes the new epoch to subscribers. Snapshots hold the whole map
 * (mon_map_pack), so the log stays bounded (--snapshot-threshold).
 *
 * Startup: a pristine data directory is bootstrapped with the configuration
 * of every monitor in --peers (all monitors bootstrap the same configuration,
 * so any one of them can win the first election); an existing directory
 * simply restarts. libraft pitfalls (see the project notes): raft_close() is
 * never called from inside a raft callback, and after its callback the TCP
 * transport is closed with raft_uv_tcp_close(), not raft_uv_close().
 *
 * Shutdown drains the log writer before raft_close(). libraft 0.15 (Debian
 * 12) cancels appends still queued behind the one being written with
 * RAFT_CANCELED, and its leader callback truncates the log from each
 * cancelled request's index, in queue order: with two or more queued, the
 * first truncation removes the later ones' entries and the next callback
 * truncates past the end of the log (an assertion, or a segfault in a build
 * without assertions). Upstream fixed it in 0.17.1 (commit 8b9c95c). A
 * burst of proposals just before SIGTERM (OSDs marking themselves down as
 * they stop with the monitor) queues several appends, so mon_raft_stop()
 * waits, on a timer and for at most MON_RAFT_DRAIN_MAX_US, until every entry
 * in the log is stored (last_stored reaches the last index) and no snapshot
 * is being written; the caller has stopped taking new commands by then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mon.h"
#include "mon_map_pb.h"
#include "rt_err.h"
#include "rt_log.h"

struct mon_proposal {
	struct raft_apply req;
	struct mon *mon;
	mon_propose_cb cb;
	void *ctx;
};

const struct mon_map *
mon_map_at(struct mon *mon, uint64_t epoch)
{
	const struct mon_map *m;

	if (epoch == 0 || epoch == mon->map->epoch)
		return mon->map;
	if (epoch > mon->map->epoch)
		return NULL;
	m = mon->hist[epoch % MON_HISTORY];
	return m && m->epoch == epoch ? m : NULL;
}

static void
history_clear(struct mon *mon)
{
	for (int i = 0; i < MON_HISTORY; i++)
		mon_map_destroy(&mon->hist[i]);
}

/* Install nw as the current map; the old one goes to history. */
static void
map_install(struct mon *mon, struct mon_map *nw)
{
	struct mon_map *old = mon->map;
	struct mon_map **slot = &mon->hist[old->epoch % MON_HISTORY];

	mon_map_destroy(slot);
	*slot = old;
	mon->map = nw;
	rt_debug(RT_SS_MON, "applied " DF_EPOCH, DP_EPOCH(nw->epoch));
	mon_net_publish(mon, old, nw);
}

static int
fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
	struct mon *mon = fsm->data;
	Tessera__AdminCommand *pb;
	struct mon_cmd cmd;
	struct mon_map *nw = NULL;
	char err[256];
	int rc;

	/*
	 * Entry layout: u32 LE length of the packed command, the command, zero
	 * padding to 8 bytes (libraft needs entry sizes that are multiples of 8).
	 */
	const unsigned char *eb = buf->base;
	uint32_t elen = buf->len >= 4 ? (uint32_t)eb[0] | (uint32_t)eb[1] << 8 |
						(uint32_t)eb[2] << 16 | (uint32_t)eb[3] << 24
				      : UINT32_MAX;

	if (elen > buf->len - 4)
		rc = -EBADMSG;
	else
		rc = mon_cmd_unpack(eb + 4, elen, &pb, &cmd);
	if (rc < 0) {
		/* A corrupt entry must not stop the state machine: skip it. */
		rt_err(RT_SS_MON, "skipping undecodable log entry: " DF_RC, DP_RC(rc));
		*result = (void *)(intptr_t)rc;
		return 0;
	}
	rc = mon_map_apply(mon->map, &cmd, &nw, err, sizeof(err));
	if (rc < 0)
		rt_info(RT_SS_MON, "command '%s' rejected at apply: %s", cmd.name, err);
	else if (nw)
		map_install(mon, nw);
	tessera__admin_command__free_unpacked(pb, NULL);
	*result = (void *)(intptr_t)rc;
	return 0;
}

static int
fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
	struct mon *mon = fsm->data;
	size_t len = mon_map_packed_size(mon->map);
	struct raft_buffer *b;
	long n;

	if (len == 0)
		return RAFT_NOMEM;
	b = raft_malloc(sizeof(*b));
	if (!b)
		return RAFT_NOMEM;
	b->base = raft_malloc(len);
	if (!b->base) {
		raft_free(b);
		return RAFT_NOMEM;
	}
	n = mon_map_pack(mon->map, b->base, len);
	if (n < 0) {
		raft_free(b->base);
		raft_free(b);
		return RAFT_NOMEM;
	}
	b->len = (size_t)n;
	*bufs = b;
	*n_bufs = 1;
	rt_info(RT_SS_MON, "snapshot of " DF_EPOCH " (%zu bytes)", DP_EPOCH(mon->map->epoch),
		b->len);
	return 0;
}

static int
fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	struct mon *mon = fsm->data;
	struct mon_map *m;
	int rc = mon_map_unpack(buf->base, buf->len, &m);

	if (rc < 0) {
		rt_err(RT_SS_MON, "cannot restore snapshot: " DF_RC, DP_RC(rc));
		return RAFT_CORRUPT;
	}
	raft_free(buf->base);
	history_clear(mon);
	mon_map_destroy(&mon->map);
	mon->map = m;
	rt_info(RT_SS_MON, "restored snapshot of " DF_EPOCH, DP_EPOCH(m->epoch));
	mon_net_publish(mon, NULL, m);
	return 0;
}

static int
mkdir_p(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int
raft_rc(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case RAFT_NOMEM:
		return -ENOMEM;
	case RAFT_NOTLEADER:
	case RAFT_LEADERSHIPLOST:
		return -RT_ENOTLEADER;
	case RAFT_NOSPACE:
		return -ENOSPC;
	case RAFT_SHUTDOWN:
	case RAFT_CANCELED:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

int
mon_raft_start(struct mon *mon)
{
	struct mon_peer *self = &mon->peers[mon->self];
	struct raft_configuration conf;
	int rc;

	snprintf(mon->raft_dir, sizeof(mon->raft_dir), "%s/raft", mon->conf.data_dir);
	rc = mkdir_p(mon->raft_dir);
	if (rc < 0) {
		rt_err(RT_SS_MON, "cannot create %s: " DF_RC, mon->raft_dir, DP_RC(rc));
		return rc;
	}
	mon->map = mon_map_create();
	if (!mon->map)
		return -ENOMEM;

	rc = raft_uv_tcp_init(&mon->transport, mon->loop);
	if (rc != 0) {
		rt_err(RT_SS_MON, "raft transport init failed (%d)", rc);
		return -EIO;
	}
	rc = raft_uv_init(&mon->io, mon->loop, mon->raft_dir, &mon->transport);
	if (rc != 0) {
		rt_err(RT_SS_MON, "raft storage init in %s failed: %s", mon->raft_dir,
		       raft_strerror(rc));
		raft_uv_tcp_close(&mon->transport);
		return -EIO;
	}
	mon->fsm.version = 1;
	mon->fsm.data = mon;
	mon->fsm.apply = fsm_apply;
	mon->fsm.snapshot = fsm_snapshot;
	mon->fsm.restore = fsm_restore;
	rc = raft_init(&mon->raft, &mon->io, &mon->fsm, self->id, self->raft_str);
	if (rc != 0) {
		rt_err(RT_SS_MON, "raft init failed: %s", raft_strerror(rc));
		raft_uv_close(&mon->io);
		raft_uv_tcp_close(&mon->transport);
		return -EIO;
	}
	mon->raft.data = mon;

	raft_configuration_init(&conf);
	for (uint32_t i = 0; i < mon->n_peers; i++) {
		rc = raft_configuration_add(&conf, mon->peers[i].id, mon->peers[i].raft_str,
					    RAFT_VOTER);
		if (rc != 0) {
			raft_configuration_close(&conf);
			goto out_close;
		}
	}
	rc = raft_bootstrap(&mon->raft, &conf);
	raft_configuration_close(&conf);
	if (rc == 0)
		rt_info(RT_SS_MON, "bootstrapped a new raft cluster of %u monitor(s)",
			mon->n_peers);
	else if (rc != RAFT_CANTBOOTSTRAP) {
		rt_err(RT_SS_MON, "raft bootstrap failed: %s", raft_strerror(rc));
		goto out_close;
	}

	raft_set_election_timeout(&mon->raft, (unsigned)(mon->conf.election_timeout_us / 1000));
	raft_set_heartbeat_timeout(&mon->raft, (unsigned)(mon->conf.raft_heartbeat_us / 1000));
	raft_set_snapshot_threshold(&mon->raft, (unsigned)mon->conf.snapshot_threshold);
	raft_set_snapshot_trailing(&mon->raft, (unsigned)mon->conf.snapshot_trailing);
	raft_set_pre_vote(&mon->raft, true);
	raft_uv_set_connect_retry_delay(&mon->io, 200);

	rc = raft_start(&mon->raft);
	if (rc != 0) {
		rt_err(RT_SS_MON, "raft start failed: %s (%s)", raft_strerror(rc),
		       raft_errmsg(&mon->raft));
		goto out_close;
	}
	mon->raft_started = true;
	rt_info(RT_SS_MON, "raft started: id %u, address %s, data %s", self->id, self->raft_str,
		mon->raft_dir);
	return 0;

out_close:
	/* The caller runs the loop after mon_raft_stop() to finish the close. */
	mon->raft_started = true;
	return -EIO;
}

#define MON_RAFT_DRAIN_MAX_US 5000000ULL /* then close anyway, with a warning */
#define MON_RAFT_DRAIN_POLL_MS 2

static void (*stop_done)(struct mon *mon);
static uv_timer_t drain_timer;
static uint64_t drain_deadline_us;

static void
on_raft_closed(struct raft *r)
{
	struct mon *mon = r->data;

	raft_uv_tcp_close(&mon->transport);
	history_clear(mon);
	mon_map_destroy(&mon->map);
	if (stop_done)
		stop_done(mon);
}

/* No append or snapshot write in flight: raft_close() cancels nothing. */
static bool
raft_is_drained(struct raft *r)
{
	return r->last_stored >= raft_last_index(r) && r->snapshot.put.data == NULL;
}

/* A timer callback, never a raft one: raft_close() is safe here. */
static void
on_drain_timer(uv_timer_t *t)
{
	struct mon *mon = t->data;
	struct raft *r = &mon->raft;

	if (!raft_is_drained(r)) {
		if (mon_now_mono_us() < drain_deadline_us)
			return;
		rt_warn(RT_SS_MON,
			"closing raft with writes in flight (stored %llu of %llu after %llu ms)",
			(unsigned long long)r->last_stored,
			(unsigned long long)raft_last_index(r),
			(unsigned long long)(MON_RAFT_DRAIN_MAX_US / 1000));
	}
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	raft_close(r, on_raft_closed);
}

void
mon_raft_stop(struct mon *mon, void (*done)(struct mon *mon))
{
	stop_done = done;
	if (!mon->raft_started) {
		history_clear(mon);
		mon_map_destroy(&mon->map);
		if (done)
			done(mon);
		return;
	}
	/* From here on nothing proposes (mon_raft_is_leader() is false). */
	mon->raft_started = false;
	drain_deadline_us = mon_now_mono_us() + MON_RAFT_DRAIN_MAX_US;
	uv_timer_init(mon->loop, &drain_timer);
	drain_timer.data = mon;
	uv_timer_start(&drain_timer, on_drain_timer, 0, MON_RAFT_DRAIN_POLL_MS);
}

bool
mon_raft_is_raw_leader(struct mon *mon)
{
	return mon->raft_started && raft_state(&mon->raft) == RAFT_LEADER;
}

bool
mon_raft_is_leader(struct mon *mon)
{
	return mon_raft_is_raw_leader(mon) && mon->leader_ready;
}

static void
on_barrier(struct raft_barrier *req, int status)
{
	struct mon *mon = req->data;

	if (status == 0 && mon_raft_is_raw_leader(mon)) {
		mon->leader_ready = true;
		rt_info(RT_SS_MON, "mon.%u leads with the map at " DF_EPOCH,
			mon->peers[mon->self].id, DP_EPOCH(mon->map->epoch));
	}
}

/*
 * A new leader commits entries of earlier terms only once an entry of its own
 * term commits (Raft section 5.4.2): the barrier is that entry. Until it is
 * applied the leader's map may lag, so it answers nothing.
 */
void
mon_raft_leader_barrier(struct mon *mon)
{
	int rc;

	mon->leader_ready = false;
	mon->barrier.data = mon;
	rc = raft_barrier(&mon->raft, &mon->barrier, on_barrier);
	if (rc != 0)
		rt_warn(RT_SS_MON, "raft barrier failed: %s", raft_strerror(rc));
}

uint32_t
mon_raft_leader(struct mon *mon, const struct mon_addr **addr)
{
	raft_id id = 0;
	const char *raddr = NULL;

	*addr = NULL;
	if (!mon->raft_started)
		return 0;
	raft_leader(&mon->raft, &id, &raddr);
	for (uint32_t i = 0; id && i < mon->n_peers; i++) {
		if (mon->peers[i].id == id)
			*addr = &mon->peers[i].addr;
	}
	return (uint32_t)id;
}

uint32_t
mon_raft_quorum(struct mon *mon, uint32_t *ids)
{
	uint32_t n = 0;

	if (!mon_raft_is_raw_leader(mon))
		return 0;
	for (unsigned i = 0; i < mon->raft.configuration.n; i++) {
		const struct raft_server *s = &mon->raft.configuration.servers[i];

		/* recent_recv: the leader heard from it within an election timeout. */
		if (s->id == mon->raft.id || mon->raft.leader_state.progress[i].recent_recv)
			ids[n++] = (uint32_t)s->id;
	}
	return n;
}

static void
on_applied(struct raft_apply *req, int status, void *result)
{
	struct mon_proposal *p = (struct mon_proposal *)req;
	int rc = status != 0 ? raft_rc(status) : (int)(intptr_t)result;

	p->cb(p->ctx, rc, p->mon->map ? p->mon->map->epoch : 0);
	free(p);
}

int
mon_raft_propose(struct mon *mon, const struct mon_cmd *cmd, mon_propose_cb cb, void *ctx,
		 char *err, size_t err_len)
{
	struct mon_map *dry = NULL;
	struct mon_proposal *p;
	struct raft_buffer buf;
	int rc;

	if (!mon_raft_is_leader(mon)) {
		snprintf(err, err_len, "this monitor is not the leader");
		return -RT_ENOTLEADER;
	}
	/* Validate on the current map first: bad commands never reach the log. */
	rc = mon_map_apply(mon->map, cmd, &dry, err, err_len);
	mon_map_destroy(&dry);
	if (rc < 0)
		return rc;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	size_t plen = mon_cmd_packed_size(cmd);

	/* Length prefix and padding: see fsm_apply(). */
	buf.len = (4 + plen + 7) & ~(size_t)7;
	buf.base = raft_malloc(buf.len);
	if (!buf.base) {
		free(p);
		return -ENOMEM;
	}
	memset(buf.base, 0, buf.len);
	((unsigned char *)buf.base)[0] = (unsigned char)plen;
	((unsigned char *)buf.base)[1] = (unsigned char)(plen >> 8);
	((unsigned char *)buf.base)[2] = (unsigned char)(plen >> 16);
	((unsigned char *)buf.base)[3] = (unsigned char)(plen >> 24);
	mon_cmd_pack(cmd, (unsigned char *)buf.base + 4);
	p->mon = mon;
	p->cb = cb;
	p->ctx = ctx;
	rc = raft_apply(&mon->raft, &p->req, &buf, 1, on_applied);
	if (rc != 0) {
		raft_free(buf.base);
		free(p);
		snprintf(err, err_len, "raft: %s", raft_strerror(rc));
		return raft_rc(rc);
	}
	return 0;
}
