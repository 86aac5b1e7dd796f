/*
 * The monitor's network glue: frames (proto/frame.h) over TCP on libuv.
 *
 * Each connection runs an explicit receive state machine:
 *   MON_RX_HDR   collect 32 header bytes, frame_hdr_decode() them;
 *   MON_RX_MSG   collect msg_len bytes, frame_msg_decode() them into the
 *                connection's arena and dispatch;
 *   MON_RX_DATA  skip a data segment (monitor messages carry none).
 * Any failed check closes that connection with a logged reason; the monitor
 * keeps serving everyone else. Writes are copied into one allocation per
 * frame (control plane, small messages) and freed when libuv is done.
 *
 * Connections are reference counted: a pending Raft proposal holds a
 * reference so that its reply can find out the connection has gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "map.pb-c.h"
#include "mon.h"
#include "mon.pb-c.h"
#include "mon_map_pb.h"
#include "rt_err.h"
#include "rt_log.h"

#define MON_ARENA_BYTES (4u << 20)

enum mon_rx_state {
	MON_RX_HDR,
	MON_RX_MSG,
	MON_RX_DATA,
};

struct mon_conn {
	struct mon *mon;
	uv_tcp_t tcp;
	struct mon_conn *next, *prev;
	int refs;
	bool open;
	enum mon_rx_state state;
	unsigned char hdr_buf[FRAME_HDR_LEN];
	size_t got;
	struct frame_hdr hdr;
	unsigned char *msg;
	size_t msg_cap;
	uint64_t skip;
	struct rt_arena arena;
	struct frame_limits lim;
	char peer[64];
	bool subscribed;
	bool sub_incremental;
	uint64_t sub_epoch;
	bool is_osd;
	uint32_t osd_id;
	/* Volumes the client on this connection has open (VolumeWatch): soft
	 * state, gone with the connection. */
	struct mon_watch *watches;
	uint32_t n_watches;
	uint32_t cap_watches;
	char rbuf[65536];
};

struct mon_write {
	uv_write_t req;
	struct mon_conn *conn;
	size_t len;
	unsigned char data[];
};

static void conn_close(struct mon_conn *c, const char *why, int rc);

void
mon_conn_get(struct mon_conn *c)
{
	c->refs++;
}

static void
conn_free(struct mon_conn *c)
{
	free(c->watches);
	rt_arena_fini(&c->arena);
	free(c->msg);
	free(c);
}

static void
on_closed(uv_handle_t *h)
{
	struct mon_conn *c = h->data;

	mon_conn_put(c);
}

void
mon_conn_put(struct mon_conn *c)
{
	if (--c->refs == 0)
		conn_free(c);
}

bool
mon_conn_is_open(const struct mon_conn *c)
{
	return c->open;
}

void
mon_conn_subscribe(struct mon_conn *c, uint64_t have_epoch, bool incremental)
{
	c->subscribed = true;
	c->sub_incremental = incremental;
	c->sub_epoch = have_epoch;
}

void
mon_conn_set_osd(struct mon_conn *c, uint32_t osd_id)
{
	c->is_osd = true;
	c->osd_id = osd_id;
}

int
mon_conn_watch(struct mon_conn *c, uint64_t vol_id, uint64_t client_id, bool unwatch)
{
	for (uint32_t i = 0; i < c->n_watches; i++) {
		if (c->watches[i].vol_id != vol_id || c->watches[i].client_id != client_id)
			continue;
		if (unwatch)
			c->watches[i] = c->watches[--c->n_watches];
		return 0;
	}
	if (unwatch)
		return 0;
	if (c->n_watches >= MON_MAX_WATCHES_PER_CONN)
		return -E2BIG;
	if (c->n_watches == c->cap_watches) {
		uint32_t cap = c->cap_watches ? c->cap_watches * 2 : 8;
		struct mon_watch *w = realloc(c->watches, cap * sizeof(*w));

		if (!w)
			return -ENOMEM;
		c->watches = w;
		c->cap_watches = cap;
	}
	c->watches[c->n_watches].vol_id = vol_id;
	c->watches[c->n_watches].client_id = client_id;
	c->n_watches++;
	return 0;
}

uint32_t
mon_vol_watchers(struct mon *mon, uint64_t vol_id, uint64_t *first_client)
{
	uint32_t n = 0;

	for (struct mon_conn *c = mon->conns; c; c = c->next) {
		for (uint32_t i = 0; c->open && i < c->n_watches; i++) {
			if (c->watches[i].vol_id != vol_id)
				continue;
			if (n++ == 0 && first_client)
				*first_client = c->watches[i].client_id;
		}
	}
	return n;
}

static void
on_write(uv_write_t *req, int status)
{
	struct mon_write *w = (struct mon_write *)req;
	struct mon_conn *c = w->conn;

	if (status < 0 && c->open)
		conn_close(c, "write failed", status);
	free(w);
	mon_conn_put(c);
}

int
mon_conn_send(struct mon_conn *c, uint16_t type, uint64_t tag, uint8_t flags,
	      const ProtobufCMessage *msg)
{
	size_t need = frame_encoded_size(msg);
	struct mon_write *w;
	ssize_t n;
	uv_buf_t b;
	int rc;

	if (!c->open)
		return -ENOTCONN;
	w = malloc(sizeof(*w) + need);
	if (!w)
		return -ENOMEM;
	n = frame_encode(w->data, need, type, tag, flags, msg, NULL, 0);
	if (n < 0) {
		free(w);
		return (int)n;
	}
	w->len = (size_t)n;
	w->conn = c;
	b = uv_buf_init((char *)w->data, (unsigned)n);
	mon_conn_get(c);
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		mon_conn_put(c);
		free(w);
		return rc;
	}
	return 0;
}

static void
conn_close(struct mon_conn *c, const char *why, int rc)
{
	struct mon *mon = c->mon;

	if (!c->open)
		return;
	c->open = false;
	if (rc && rc != UV_EOF)
		rt_warn(RT_SS_MON, "closing connection from %s: %s: " DF_RC, c->peer, why,
			DP_RC(rc));
	else
		rt_debug(RT_SS_MON, "connection from %s closed: %s", c->peer, why);
	if (c->prev)
		c->prev->next = c->next;
	else
		mon->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	mon->n_conns--;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct mon_conn *c = h->data;

	buf->base = c->rbuf;
	buf->len = sizeof(c->rbuf);
}

/* One complete message: decode and dispatch. Returns 0 or a reason to close. */
static int
rx_message(struct mon_conn *c)
{
	ProtobufCMessage *msg = NULL;
	int rc;

	rt_arena_reset(&c->arena);
	rc = frame_msg_decode(&c->hdr, c->msg, &c->arena, &msg);
	if (rc < 0)
		return rc;
	if (c->hdr.flags & FRAME_F_REPLY)
		return 0; /* the monitor sends no requests: ignore stray replies */
	if (c->hdr.type == FRAME_T_ADMIN)
		mon_admin_dispatch(c, &c->hdr, msg);
	else
		mon_rpc_dispatch(c, &c->hdr, msg);
	return 0;
}

/* Feed received bytes to the state machine. Returns 0 or a negative reason. */
static int
rx_feed(struct mon_conn *c, const unsigned char *p, size_t len)
{
	int rc;

	while (len > 0 && c->open) {
		switch (c->state) {
		case MON_RX_HDR: {
			size_t take = FRAME_HDR_LEN - c->got;

			if (take > len)
				take = len;
			memcpy(c->hdr_buf + c->got, p, take);
			c->got += take;
			p += take;
			len -= take;
			if (c->got < FRAME_HDR_LEN)
				break;
			rc = frame_hdr_decode(c->hdr_buf, &c->lim, &c->hdr);
			if (rc < 0)
				return rc;
			c->got = 0;
			if (c->hdr.msg_len > c->msg_cap) {
				unsigned char *nm = realloc(c->msg, c->hdr.msg_len);

				if (!nm)
					return -ENOMEM;
				c->msg = nm;
				c->msg_cap = c->hdr.msg_len;
			}
			c->state = MON_RX_MSG;
			if (c->hdr.msg_len == 0) {
				rc = rx_message(c);
				if (rc < 0)
					return rc;
				c->skip = c->hdr.data_len;
				c->state = c->skip ? MON_RX_DATA : MON_RX_HDR;
			}
			break;
		}
		case MON_RX_MSG: {
			size_t take = c->hdr.msg_len - c->got;

			if (take > len)
				take = len;
			memcpy(c->msg + c->got, p, take);
			c->got += take;
			p += take;
			len -= take;
			if (c->got < c->hdr.msg_len)
				break;
			c->got = 0;
			rc = rx_message(c);
			if (rc < 0)
				return rc;
			c->skip = c->hdr.data_len;
			c->state = c->skip ? MON_RX_DATA : MON_RX_HDR;
			break;
		}
		case MON_RX_DATA: {
			size_t take = c->skip < len ? (size_t)c->skip : len;

			c->skip -= take;
			p += take;
			len -= take;
			if (c->skip == 0)
				c->state = MON_RX_HDR;
			break;
		}
		}
	}
	return 0;
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct mon_conn *c = s->data;
	int rc;

	if (nread < 0) {
		if (nread == UV_EOF && (c->state != MON_RX_HDR || c->got))
			conn_close(c, "truncated frame", -EPIPE);
		else
			conn_close(c, nread == UV_EOF ? "peer closed" : "read error", (int)nread);
		return;
	}
	if (nread == 0)
		return;
	mon_conn_get(c);
	rc = rx_feed(c, (const unsigned char *)buf->base, (size_t)nread);
	if (rc < 0)
		conn_close(c, "bad frame", rc);
	mon_conn_put(c);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct mon *mon = server->data;
	struct mon_conn *c;
	struct sockaddr_storage ss;
	int len = sizeof(ss), rc;

	if (status < 0) {
		rt_warn(RT_SS_MON, "accept: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c || rt_arena_init(&c->arena, MON_ARENA_BYTES) < 0) {
		free(c);
		rt_err_rl(RT_SS_MON, "out of memory accepting a connection");
		return;
	}
	c->mon = mon;
	c->refs = 1;
	frame_limits_init(&c->lim);
	c->lim.max_msg_len = (uint32_t)mon->conf.max_msg_bytes;
	c->lim.max_data_len = 0;
	uv_tcp_init(mon->loop, &c->tcp);
	c->tcp.data = c;
	rc = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rc < 0) {
		c->open = false;
		uv_close((uv_handle_t *)&c->tcp, on_closed);
		return;
	}
	c->open = true;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		char ip[48] = "?";

		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "%s:%u", ip,
				 ntohs(((struct sockaddr_in *)&ss)->sin_port));
		} else {
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
			snprintf(c->peer, sizeof(c->peer), "[%s]:%u", ip,
				 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
		}
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->next = mon->conns;
	if (mon->conns)
		mon->conns->prev = c;
	mon->conns = c;
	mon->n_conns++;
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static int
addr_to_sockaddr(const struct mon_addr *a, struct sockaddr_storage *ss)
{
	if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return -EINVAL;
}

int
mon_net_start(struct mon *mon)
{
	const struct mon_addr *a = &mon->peers[mon->self].addr;
	struct sockaddr_storage ss;
	int rc;

	rc = addr_to_sockaddr(a, &ss);
	if (rc < 0) {
		rt_err(RT_SS_MON, "listen address '%s' is not a numeric IP", a->host);
		return rc;
	}
	uv_tcp_init(mon->loop, &mon->listener);
	mon->listener.data = mon;
	rc = uv_tcp_bind(&mon->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&mon->listener, 128, on_connection);
	if (rc < 0) {
		rt_err(RT_SS_MON, "listen on %s:%u: %s", a->host, a->port, uv_strerror(rc));
		uv_close((uv_handle_t *)&mon->listener, NULL);
		return rc;
	}
	rt_info(RT_SS_MON, "mon.%u listening on %s:%u", mon->peers[mon->self].id, a->host,
		a->port);
	return 0;
}

void
mon_net_stop(struct mon *mon)
{
	if (!uv_is_closing((uv_handle_t *)&mon->listener))
		uv_close((uv_handle_t *)&mon->listener, NULL);
	while (mon->conns)
		conn_close(mon->conns, "monitor shutting down", 0);
}

static void
publish_one(struct mon_conn *c, const struct mon_map *old, const struct mon_map *nw,
	    const ProtobufCMessage *full, const ProtobufCMessage *inc)
{
	int rc;

	if (c->sub_incremental && inc && old && c->sub_epoch == old->epoch)
		rc = mon_conn_send(c, FRAME_T_MAP_INC, 0, 0, inc);
	else
		rc = mon_conn_send(c, FRAME_T_MAP, 0, 0, full);
	if (rc < 0)
		rt_warn_rl(RT_SS_MON, "push of " DF_EPOCH " to %s failed: " DF_RC,
			   DP_EPOCH(nw->epoch), c->peer, DP_RC(rc));
	else
		c->sub_epoch = nw->epoch;
}

void
mon_net_publish(struct mon *mon, const struct mon_map *old, const struct mon_map *nw)
{
	Tessera__ClusterMap *full = NULL;
	Tessera__MapIncremental *inc = NULL;
	uint32_t ids[MON_MAX_PEERS];
	struct mon_addr addrs[MON_MAX_PEERS];
	struct mon_map_pb_mons mons = { mon->n_peers, ids, addrs };
	bool any = false;

	for (struct mon_conn *c = mon->conns; c; c = c->next)
		any |= c->subscribed;
	if (!any)
		return;
	for (uint32_t i = 0; i < mon->n_peers; i++) {
		ids[i] = mon->peers[i].id;
		addrs[i] = mon->peers[i].addr;
	}
	full = mon_map_to_pb(nw, &mons);
	if (old)
		inc = mon_map_inc_to_pb(old, nw);
	if (!full) {
		rt_err(RT_SS_MON, "out of memory encoding " DF_EPOCH, DP_EPOCH(nw->epoch));
		goto out_free;
	}
	for (struct mon_conn *c = mon->conns; c; c = c->next) {
		if (c->subscribed && c->sub_epoch < nw->epoch)
			publish_one(c, old, nw, &full->base, inc ? &inc->base : NULL);
	}
out_free:
	mon_map_pb_free(full);
	mon_map_inc_pb_free(inc);
}
