/*
 * The control thread: a reactor of its own, in the main thread, that talks
 * to the monitors and to the data reactors. Nothing here is on the data path.
 *
 * Monitor session: connect to one monitor of --mon (rotating through the
 * list when a connection fails or a monitor says it is not the leader), send
 * OsdBoot (stable uuid, the id kept from an earlier boot, one address per
 * reactor), then Subscribe for full maps. Heartbeats go every interval the
 * boot reply gave, with the stats the reactors report. A heartbeat answered
 * EAGAIN (the monitor marked us down) or a map that shows us down makes us
 * boot again.
 *
 * Maps: each ClusterMap becomes a plain mon_map (mon_map_from_pb validates
 * it), wrapped in a refcounted osd_map and posted to every reactor with one
 * reference each; the control thread keeps one for itself.
 *
 * Stats: at each heartbeat the control thread posts a stats request to every
 * reactor; each fills its own snapshot and posts back; the heartbeat goes
 * when all have answered.
 *
 * Shutdown (SIGTERM/SIGINT through a signalfd read on this ring): ask the
 * monitor to mark us down at once (OsdMarkDown), so that clients move to the
 * new primaries without waiting for the heartbeat grace, post stop to every
 * reactor, wait for their exit notices and for the monitor's answer (at most
 * OSD_MARK_DOWN_TIMEOUT_US: a dead monitor must not delay the stop), then
 * leave the loop.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "mon.pb-c.h"
#include "mon_map_pb.h"
#include "osd.h"
#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"

static struct osd *ctl_osd; /* the control thread's only OSD */

/* Clean-stop mark-down (control thread only). */
#define OSD_MARK_DOWN_TIMEOUT_US 500000
static struct rt_timer md_timer;
static uint64_t md_tag;
static bool md_pending;
static bool ctl_finished;

/* Control messages are rare: each owns a copy of its encoded bytes. */
static int
ctl_send(struct osd *osd, uint16_t type, uint64_t tag, const ProtobufCMessage *msg)
{
	if (!osd->mon_conn)
		return -ENOTCONN;
	return rt_conn_send_copy(osd->mon_conn, type, tag, 0, msg);
}

static void mon_connect(struct osd *osd);
static void md_done(struct osd *osd, int rc, const char *msg);

static void
retry_fire(struct rt_timer *t)
{
	struct osd *osd = ctl_osd;

	if (osd->stopping)
		return;
	if (!osd->mon_conn)
		mon_connect(osd);
}

static void
mon_rotate_later(struct osd *osd)
{
	osd->cur_mon = (osd->cur_mon + 1) % osd->n_mons;
	if (!osd->stopping)
		rt_timer_start(osd->ctl, &osd->retry_timer, osd->conf.mon_retry_us, 0);
}

static void
send_boot(struct osd *osd)
{
	Tessera__OsdBoot b = TESSERA__OSD_BOOT__INIT;
	Tessera__Address addrs[OSD_MAX_REACTORS], *paddrs[OSD_MAX_REACTORS];
	int rc;

	b.uuid = osd->uuid;
	b.want_id = osd->osd_id;
	b.host = (char *)osd->conf.host;
	b.failure_domain = (char *)(osd->conf.failure_domain ? osd->conf.failure_domain : "");
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		tessera__address__init(&addrs[i]);
		addrs[i].host = (char *)osd->conf.listen_host;
		addrs[i].port = osd->reactors[i]->port;
		paddrs[i] = &addrs[i];
	}
	b.reactors = paddrs;
	b.n_reactors = osd->n_reactors;
	b.weight = osd->weight;
	b.device_bytes = osd->device_bytes;
	osd->boot_tag = ++osd->next_tag;
	rc = ctl_send(osd, FRAME_T_OSD_BOOT, osd->boot_tag, &b.base);
	if (rc < 0)
		rt_warn(RT_SS_OSD, "sending OsdBoot failed: " DF_RC, DP_RC(rc));
}

static void
send_subscribe(struct osd *osd)
{
	Tessera__Subscribe s = TESSERA__SUBSCRIBE__INIT;

	s.have_epoch = 0;
	s.incremental = false;
	osd->sub_tag = ++osd->next_tag;
	ctl_send(osd, FRAME_T_SUBSCRIBE, osd->sub_tag, &s.base);
}

/* ---- heartbeats ----------------------------------------------------------------------- */

static void
hb_fire(struct rt_timer *t)
{
	struct osd *osd = ctl_osd;

	if (!osd->booted || osd->stopping || osd->hb_pending)
		return;
	osd->hb_pending = osd->n_reactors;
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		struct osd_reactor *r = osd->reactors[i];

		rt_reactor_post(r->r, &r->hb_req_msg, osd_reactor_hb_collect, r);
	}
}

void
osd_ctl_hb_part(void *ctx)
{
	struct osd *osd = ((struct osd_reactor *)ctx)->osd;
	Tessera__OsdHeartbeat h = TESSERA__OSD_HEARTBEAT__INIT;
	Tessera__PgStat *stats = NULL, **pstats = NULL;
	uint32_t n_pgs = 0, k = 0;

	if (--osd->hb_pending > 0)
		return;
	if (!osd->booted || osd->stopping)
		return;
	for (uint32_t i = 0; i < osd->n_reactors; i++)
		n_pgs += osd->reactors[i]->hb_n_pgs;
	if (n_pgs) {
		stats = calloc(n_pgs, sizeof(*stats));
		pstats = calloc(n_pgs, sizeof(*pstats));
		if (!stats || !pstats)
			n_pgs = 0;
	}
	h.osd_id = osd->osd_id;
	/*
	 * The epoch the PG states were computed from: the oldest map among the
	 * reactors. A reactor that has not applied the newest map yet reports
	 * states of the old acting sets (active+clean before peering toward a
	 * new member has started); claimed at the newest epoch, the monitor would
	 * take them for states of the new acting sets.
	 */
	h.epoch = osd->map ? osd->map->epoch : 0;
	for (uint32_t i = 0; i < osd->n_reactors; i++)
		if (osd->reactors[i]->hb_epoch < h.epoch)
			h.epoch = osd->reactors[i]->hb_epoch;
	h.device_bytes = osd->device_bytes;
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		const struct osd_reactor *r = osd->reactors[i];

		h.used_bytes += r->hb_statfs.used_bytes;
		h.ops += r->hb_stats.ops;
		h.read_bytes += r->hb_stats.read_bytes;
		h.write_bytes += r->hb_stats.write_bytes;
		for (uint32_t j = 0; j < r->hb_n_pgs && k < n_pgs; j++, k++) {
			tessera__pg_stat__init(&stats[k]);
			stats[k].pool = r->hb_pgs[j].pool;
			stats[k].seed = r->hb_pgs[j].seed;
			stats[k].state = (char *)r->hb_pgs[j].state;
			pstats[k] = &stats[k];
		}
	}
	h.pgs = pstats;
	h.n_pgs = k;
	/* Per-reactor perf: the protobuf points at the reactors' snapshots. */
	Tessera__ReactorPerf rp[OSD_MAX_REACTORS], *prp[OSD_MAX_REACTORS];
	Tessera__OpClassPerf cp[OSD_MAX_REACTORS][MON_PERF_NCLASS];
	Tessera__OpClassPerf *pcp[OSD_MAX_REACTORS][MON_PERF_NCLASS];
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		struct osd_reactor *r = osd->reactors[i];

		tessera__reactor_perf__init(&rp[i]);
		rp[i].reactor = i;
		rp[i].inflight = r->hb_inflight;
		rp[i].inflight_max = r->hb_inflight_max;
		for (uint32_t c = 0; c < MON_PERF_NCLASS; c++) {
			struct mon_perf_hist *hs = &r->hb_stats.lat[c];
			size_t nb = MON_PERF_BUCKETS;

			while (nb > 0 && hs->b[nb - 1] == 0)
				nb--;
			tessera__op_class_perf__init(&cp[i][c]);
			cp[i][c].name = (char *)mon_perf_class_names[c];
			cp[i][c].ops = hs->ops;
			cp[i][c].bytes = hs->bytes;
			cp[i][c].errors = hs->errors;
			cp[i][c].lat_sum_us = hs->lat_sum_us;
			cp[i][c].lat_hist = hs->b;
			cp[i][c].n_lat_hist = nb;
			pcp[i][c] = &cp[i][c];
		}
		rp[i].classes = pcp[i];
		rp[i].n_classes = MON_PERF_NCLASS;
		prp[i] = &rp[i];
	}
	h.perf = prp;
	h.n_perf = osd->n_reactors;
	osd->hb_tag = ++osd->next_tag;
	ctl_send(osd, FRAME_T_OSD_HEARTBEAT, osd->hb_tag, &h.base);
	free(stats);
	free(pstats);
}

/* ---- maps ----------------------------------------------------------------------------- */

static void
handle_map(struct osd *osd, const Tessera__ClusterMap *pb)
{
	struct mon_map *m = NULL;
	struct osd_map *map;
	const struct mon_osd *self;
	int rc;

	if (osd->stopping)
		return; /* the reactors are leaving: post nothing more to them */
	rc = mon_map_from_pb(pb, &m);
	if (rc < 0) {
		rt_err(RT_SS_OSD, "the monitor sent a map that does not validate: " DF_RC,
		       DP_RC(rc));
		return;
	}
	if (osd->map && m->epoch <= osd->map->epoch) {
		mon_map_destroy(&m);
		return;
	}
	map = osd_map_new(m, osd->n_reactors);
	if (!map) {
		mon_map_destroy(&m);
		return;
	}
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		osd_map_get(map);
		rt_reactor_post(osd->reactors[i]->r, &map->msgs[i], osd_reactor_apply_map, map);
	}
	osd_map_put(&osd->map);
	osd->map = map;
	self = mon_map_osd(m, osd->osd_id);
	rt_info(RT_SS_OSD, "map " DF_EPOCH ": %u OSDs, %u pools; " DF_OSD " is %s",
		DP_EPOCH(m->epoch), m->n_osds, m->n_pools, osd->osd_id,
		self ? (self->up ? "up" : "down") : "not in the map");
	if (osd->booted && m->epoch > osd->boot_epoch && (!self || !self->up)) {
		rt_warn(RT_SS_OSD, "the map marks " DF_OSD " down while it runs: booting again",
			osd->osd_id);
		osd->booted = false;
		send_boot(osd);
	}
}

/* ---- the monitor connection ------------------------------------------------------------- */

static void
boot_reply(struct osd *osd, const Tessera__OsdBootReply *b)
{
	int rc = frame_status_to_errno(b->status);

	if (b->status != TESSERA__STATUS__STATUS_OK) {
		rt_warn(RT_SS_OSD, "boot refused by %s: %s (" DF_RC ")", osd->mons[osd->cur_mon],
			b->message ? b->message : "", DP_RC(rc));
		/* Not the leader, or not ready: try the next monitor. */
		rt_conn_close(osd->mon_conn, rc);
		return;
	}
	if (osd->stopping)
		return;
	if (osd->osd_id != b->osd_id || osd->ident.osd_id != b->osd_id) {
		osd->osd_id = b->osd_id;
		osd->ident.osd_id = b->osd_id;
		osd->ident.crc = 0;
		osd->ident.crc = rt_crc32c(0, &osd->ident, sizeof(osd->ident));
		rt_reactor_post(osd->reactors[0]->r, &osd->reactors[0]->ident_msg,
				osd_reactor_save_ident, osd->reactors[0]);
	}
	osd->booted = true;
	osd->boot_epoch = b->epoch;
	osd->hb_interval_us = b->heartbeat_interval_ms ? b->heartbeat_interval_ms * 1000ull
						       : 1000000ull;
	if (osd->hb_interval_us < 100000)
		osd->hb_interval_us = 100000;
	rt_info(RT_SS_OSD, "booted as " DF_OSD " at " DF_EPOCH " (heartbeat every %llu ms)",
		osd->osd_id, DP_EPOCH(b->epoch),
		(unsigned long long)(osd->hb_interval_us / 1000));
	rt_timer_start(osd->ctl, &osd->hb_timer, osd->hb_interval_us, osd->hb_interval_us);
	send_subscribe(osd);
}

static void
mon_on_frame(struct rt_conn *c, const struct frame_hdr *hdr, ProtobufCMessage *msg,
	     const struct iovec *data, int data_cnt)
{
	struct osd *osd = ctl_osd;

	switch (hdr->type) {
	case FRAME_T_OSD_BOOT_REPLY:
		if (hdr->tag == osd->boot_tag)
			boot_reply(osd, (const Tessera__OsdBootReply *)msg);
		break;
	case FRAME_T_REPLY: {
		const Tessera__Reply *r = (const Tessera__Reply *)msg;
		int rc = r->status == TESSERA__STATUS__STATUS_OK ? 0 : frame_status_to_errno(r->status);

		if (hdr->tag == md_tag && md_pending) {
			md_done(osd, rc, r->message);
			break;
		}
		if (rc == 0)
			break;
		if (hdr->tag == osd->hb_tag && rc == -EAGAIN && osd->booted && !osd->stopping) {
			rt_warn(RT_SS_OSD, "the monitor says: %s; booting again",
				r->message ? r->message : "");
			osd->booted = false;
			send_boot(osd);
		} else if (rc == -RT_ENOTLEADER) {
			rt_conn_close(c, rc);
		} else {
			rt_warn_rl(RT_SS_OSD, "monitor reply: %s (" DF_RC ")",
				   r->message ? r->message : "", DP_RC(rc));
		}
		break;
	}
	case FRAME_T_MAP:
		handle_map(osd, (const Tessera__ClusterMap *)msg);
		break;
	default:
		rt_debug(RT_SS_OSD, "ignoring %s from the monitor", frame_type_name(hdr->type));
		break;
	}
}

static void
mon_on_connect(struct rt_conn *c)
{
	struct osd *osd = ctl_osd;

	rt_info(RT_SS_OSD, "connected to monitor %s", osd->mons[osd->cur_mon]);
	send_boot(osd);
}

static void
mon_on_close(struct rt_conn *c, int reason)
{
	struct osd *osd = ctl_osd;

	if (osd->mon_conn == c)
		osd->mon_conn = NULL;
	osd->booted = false;
	rt_timer_stop(osd->ctl, &osd->hb_timer);
	if (md_pending)
		md_done(osd, reason, "connection closed");
	if (osd->stopping)
		return;
	rt_warn(RT_SS_OSD, "monitor %s: connection closed: " DF_RC, osd->mons[osd->cur_mon],
		DP_RC(reason));
	mon_rotate_later(osd);
}

static const struct rt_conn_ops mon_ops = {
	.on_frame = mon_on_frame,
	.on_close = mon_on_close,
	.on_connect = mon_on_connect,
};

static void
mon_connect(struct osd *osd)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc;

	rc = rt_msgr_parse_addr(osd->mons[osd->cur_mon], &ss, &sl);
	if (rc == 0)
		rc = rt_msgr_connect(osd->ctl_msgr, (struct sockaddr *)&ss, sl, &mon_ops, osd,
				     &osd->mon_conn);
	if (rc < 0) {
		rt_err(RT_SS_OSD, "monitor %s: " DF_RC, osd->mons[osd->cur_mon], DP_RC(rc));
		osd->mon_conn = NULL;
		mon_rotate_later(osd);
	}
}

/* ---- shutdown ---------------------------------------------------------------------------- */

/* Leave the loop once every reactor has exited and the mark-down is settled. */
static void
ctl_maybe_finish(struct osd *osd)
{
	if (ctl_finished || md_pending || osd->n_exited < osd->n_started)
		return;
	ctl_finished = true;
	if (osd->mon_conn)
		rt_conn_close(osd->mon_conn, -ECANCELED);
	rt_reactor_stop(osd->ctl);
}

static void
md_done(struct osd *osd, int rc, const char *msg)
{
	md_pending = false;
	rt_timer_stop(osd->ctl, &md_timer);
	if (rc == 0)
		rt_info(RT_SS_OSD, "the monitor marked " DF_OSD " down", osd->osd_id);
	else
		rt_warn(RT_SS_OSD, "mark-down not confirmed: %s (" DF_RC ")", msg ? msg : "",
			DP_RC(rc));
	ctl_maybe_finish(osd);
}

static void
md_fire(struct rt_timer *t)
{
	if (md_pending)
		md_done(ctl_osd, -ETIMEDOUT, "no answer from the monitor");
}

/* OsdMarkDown to the monitor; the stop waits for the answer, bounded by md_timer. */
static void
send_mark_down(struct osd *osd)
{
	Tessera__OsdMarkDown md = TESSERA__OSD_MARK_DOWN__INIT;

	if (!osd->booted || !osd->mon_conn)
		return;
	md.osd_id = osd->osd_id;
	md.uuid = osd->uuid;
	md_tag = ++osd->next_tag;
	if (ctl_send(osd, FRAME_T_OSD_MARK_DOWN, md_tag, &md.base) < 0)
		return;
	md_pending = true;
	rt_timer_init(&md_timer, md_fire);
	rt_timer_start(osd->ctl, &md_timer, OSD_MARK_DOWN_TIMEOUT_US, 0);
}

static void
begin_shutdown(struct osd *osd, const char *why)
{
	if (osd->stopping)
		return;
	osd->stopping = true;
	rt_info(RT_SS_OSD, "%s: stopping (draining in-flight ops)", why);
	rt_timer_stop(osd->ctl, &osd->hb_timer);
	rt_timer_stop(osd->ctl, &osd->retry_timer);
	send_mark_down(osd);
	for (uint32_t i = 0; i < osd->n_reactors; i++) {
		struct osd_reactor *r = osd->reactors[i];

		if (r && r->r && r->start_rc == 0)
			rt_reactor_post(r->r, &r->stop_msg, osd_reactor_stop_msg, r);
	}
	if (osd->n_exited >= osd->n_started && !md_pending) {
		ctl_finished = true;
		rt_reactor_stop(osd->ctl);
	}
}

void
osd_ctl_reactor_exited(void *ctx)
{
	struct osd *osd = ((struct osd_reactor *)ctx)->osd;

	osd->n_exited++;
	ctl_maybe_finish(osd);
}

static void sig_arm(struct osd *osd);

static void
sig_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct osd *osd = (struct osd *)((char *)io - offsetof(struct osd, sig_io));
	const struct signalfd_siginfo *si = (const void *)osd->sig_buf;

	if (res == (int32_t)sizeof(*si)) {
		begin_shutdown(osd, si->ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
	} else if (res < 0 && res != -ECANCELED) {
		rt_err(RT_SS_OSD, "reading the signalfd: " DF_RC, DP_RC(res));
		return;
	}
	if (res != -ECANCELED)
		sig_arm(osd);
}

static void
sig_arm(struct osd *osd)
{
	struct io_uring_sqe *sqe = rt_reactor_get_sqe(osd->ctl);

	io_uring_prep_read(sqe, osd->sig_fd, osd->sig_buf, sizeof(struct signalfd_siginfo), 0);
	rt_io_set(sqe, &osd->sig_io);
}

/* ---- start/stop --------------------------------------------------------------------------- */

int
osd_mon_start(struct osd *osd)
{
	char buf[1024], *save = NULL, *tok;
	struct rt_msgr_opts mo;
	sigset_t set;
	int rc;

	ctl_osd = osd;
	if (strlen(osd->conf.mon) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, osd->conf.mon);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct sockaddr_storage ss;
		socklen_t sl;

		if (osd->n_mons >= 16 || strlen(tok) >= sizeof(osd->mons[0]) ||
		    rt_msgr_parse_addr(tok, &ss, &sl) < 0) {
			fprintf(stderr, "tessera-osd: --mon: '%s' is not a numeric HOST:PORT\n", tok);
			return -EINVAL;
		}
		strcpy(osd->mons[osd->n_mons++], tok);
	}
	if (osd->n_mons == 0) {
		fprintf(stderr, "tessera-osd: --mon is required\n");
		return -EINVAL;
	}
	rt_msgr_opts_init(&mo);
	mo.connect_max_attempts = 3;
	rc = rt_msgr_create(osd->ctl, &mo, &osd->ctl_msgr);
	if (rc < 0)
		return rc;
	rt_timer_init(&osd->hb_timer, hb_fire);
	rt_timer_init(&osd->retry_timer, retry_fire);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	osd->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (osd->sig_fd < 0)
		return -errno;
	osd->sig_io.cb = sig_done;
	sig_arm(osd);
	mon_connect(osd);
	return 0;
}

void
osd_mon_stop(struct osd *osd)
{
	if (osd->ctl_msgr)
		rt_msgr_destroy(&osd->ctl_msgr);
	osd_map_put(&osd->map);
	if (osd->sig_fd > 0) {
		close(osd->sig_fd);
		osd->sig_fd = -1;
	}
}
