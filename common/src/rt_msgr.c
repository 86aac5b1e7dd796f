/*
 * The messenger object, listeners (multishot io_uring accept), outgoing
 * connections (io_uring connect with a linked timeout, retried with
 * exponential backoff on a reactor timer) and address helpers. Connections
 * themselves live in rt_msgr_conn.c; docs/messenger.md has the design.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_err.h"
#include "rt_log.h"
#include "rt_msgr_int.h"

#define RT_MSGR_DESTROY_TIMEOUT_US (5u * 1000 * 1000)
#define RT_ACCEPT_RETRY_US 10000

void
rt_msgr_opts_init(struct rt_msgr_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	frame_limits_init(&opts->limits);
	opts->rx_buf_bytes = 16u << 10;
	opts->arena_bytes = 64u << 10;
	opts->connect_backoff_us = 10000;
	opts->connect_backoff_max_us = 1000000;
	opts->connect_max_attempts = 8;
	opts->connect_timeout_us = 3000000;
	opts->nodelay = true;
}

int
rt_msgr_create(struct rt_reactor *r, const struct rt_msgr_opts *opts, struct rt_msgr **out)
{
	struct rt_msgr *m;

	*out = NULL;
	if (!r)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->r = r;
	if (opts)
		m->opts = *opts;
	else
		rt_msgr_opts_init(&m->opts);
	if (m->opts.rx_buf_bytes < 64)
		m->opts.rx_buf_bytes = 64;
	if (m->opts.arena_bytes < 1024)
		m->opts.arena_bytes = 1024;
	if (m->opts.limits.max_msg_len == 0 && m->opts.limits.max_data_len == 0)
		frame_limits_init(&m->opts.limits);
	if (m->opts.connect_backoff_us == 0)
		m->opts.connect_backoff_us = 1000;
	if (m->opts.connect_backoff_max_us < m->opts.connect_backoff_us)
		m->opts.connect_backoff_max_us = m->opts.connect_backoff_us;
	*out = m;
	return 0;
}

struct rt_reactor *
rt_msgr_reactor(const struct rt_msgr *m)
{
	return m->r;
}

void
rt__msgr_conn_unlink(struct rt_conn *c)
{
	struct rt_msgr *m = c->m;

	if (c->prev)
		c->prev->next = c->next;
	else if (m->conns == c)
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	m->nconns--;
}

void
rt_msgr_destroy(struct rt_msgr **mp)
{
	struct rt_msgr *m = *mp;
	uint64_t deadline;

	if (!m)
		return;
	*mp = NULL;
	while (m->listeners) {
		struct rt_listener *l = m->listeners;

		rt_listener_close(&l);
	}
	/* Close every connection; on_close runs from the loop below. */
	{
		struct rt_conn *c;

		for (c = m->conns; c; c = c->next)
			rt__conn_close_start(c, -ECANCELED);
	}
	deadline = rt_now_us() + RT_MSGR_DESTROY_TIMEOUT_US;
	while (m->nconns > 0 || m->nlisteners > 0) {
		if (rt_reactor_run_once(m->r, 1000) < 0 || rt_now_us() > deadline) {
			rt_err(RT_SS_MSGR, "messenger destroy: %u connections and %u listeners "
			       "still busy; leaking them", m->nconns, m->nlisteners);
			return;
		}
	}
	free(m);
}

/* ------------------------------------------------------------- addresses */

int
rt_msgr_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *h = s;
	size_t hl;
	char *end;
	long port;

	if (!s || !ss || !len)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	colon = strrchr(s, ':');
	if (!colon || colon == s)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return -EINVAL;
		h = s + 1;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	if (s[0] != '[') {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -EINVAL;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	}
	return 0;
}

const char *
rt_msgr_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

/* ------------------------------------------------------------- listeners */

static void rt__listener_arm(struct rt_listener *l);

static void
rt__listener_free_if_idle(struct rt_listener *l)
{
	if (!l->closing || l->inflight > 0)
		return;
	rt_timer_stop(l->m->r, &l->rearm_timer);
	if (l->fd >= 0)
		close(l->fd);
	l->m->nlisteners--;
	free(l);
}

static void
rt__listener_accepted(struct rt_listener *l, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct rt_conn *c;
	int rc;

	rc = rt__conn_alloc(l->m, fd, &c);
	if (rc < 0) {
		rt_err_rl(RT_SS_MSGR, "listener :%u: cannot set up a connection: " DF_RC, l->port,
			  DP_RC(rc));
		close(fd);
		return;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		rt_msgr_addr_str((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	rt__conn_set_nodelay(c);
	l->accepted++;
	rc = l->on_accept(l, c);
	if (rc < 0 || !c->ops || !c->ops->on_frame || !c->ops->on_close) {
		rt_debug(RT_SS_MSGR, "listener :%u: refused %s: " DF_RC, l->port, c->peer,
			 DP_RC(rc < 0 ? rc : -EINVAL));
		c->refused = true;
		rt__conn_close_start(c, rc < 0 ? rc : -EINVAL);
		return;
	}
	rt_debug(RT_SS_MSGR, "listener :%u: accepted %s", l->port, c->peer);
	rt__conn_start_io(c);
}

static void
rt__listener_accept_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_listener *l = rt__container_of(io, struct rt_listener, acc_io);
	bool more = (flags & IORING_CQE_F_MORE) != 0;

	if (!more) {
		l->acc_inflight = false;
		l->inflight--;
	}
	if (l->closing) {
		if (res >= 0)
			close(res);
		rt__listener_free_if_idle(l);
		return;
	}
	if (res >= 0) {
		rt__listener_accepted(l, res);
	} else if (res == -EINVAL && !l->single_shot) {
		/* Multishot accept unsupported here: fall back to one accept per SQE. */
		l->single_shot = true;
	} else if (res != -EINTR && res != -EAGAIN && res != -ECONNABORTED) {
		rt_err_rl(RT_SS_MSGR, "listener :%u: accept: " DF_RC, l->port, DP_RC(res));
		if (!more) {
			/* Out of fds or memory: back off instead of spinning. */
			rt_timer_start(l->m->r, &l->rearm_timer, RT_ACCEPT_RETRY_US, 0);
			return;
		}
	}
	if (!l->acc_inflight)
		rt__listener_arm(l);
}

static void
rt__listener_rearm_timer(struct rt_timer *t)
{
	struct rt_listener *l = rt__container_of(t, struct rt_listener, rearm_timer);

	if (!l->closing)
		rt__listener_arm(l);
}

static void
rt__listener_cancel_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_listener *l = rt__container_of(io, struct rt_listener, cancel_io);

	l->inflight--;
	rt__listener_free_if_idle(l);
}

static void
rt__listener_arm(struct rt_listener *l)
{
	struct io_uring_sqe *sqe;

	if (l->acc_inflight || l->closing)
		return;
	sqe = rt_reactor_get_sqe(l->m->r);
	if (l->single_shot)
		io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	rt_io_set(sqe, &l->acc_io);
	l->acc_inflight = true;
	l->inflight++;
}

int
rt_msgr_listen(struct rt_msgr *m, const struct sockaddr *addr, socklen_t addrlen, int backlog,
	       rt_accept_cb on_accept, void *user, struct rt_listener **out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct rt_listener *l;
	int one = 1;
	int rc;

	*out = NULL;
	if (!addr || !on_accept || addrlen > sizeof(ss))
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->m = m;
	l->on_accept = on_accept;
	l->user = user;
	l->acc_io.cb = rt__listener_accept_done;
	l->cancel_io.cb = rt__listener_cancel_done;
	rt_timer_init(&l->rearm_timer, rt__listener_rearm_timer);
	l->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0) {
		rc = -errno;
		goto out_free;
	}
	if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (bind(l->fd, addr, addrlen) < 0 || listen(l->fd, backlog > 0 ? backlog : 128) < 0) {
		rc = -errno;
		goto out_close;
	}
	if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0)
		l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	l->next = m->listeners;
	if (m->listeners)
		m->listeners->prev = l;
	m->listeners = l;
	m->nlisteners++;
	rt__listener_arm(l);
	*out = l;
	return 0;

out_close:
	close(l->fd);
out_free:
	free(l);
	return rc;
}

void
rt_listener_close(struct rt_listener **lp)
{
	struct rt_listener *l = *lp;
	struct rt_msgr *m;

	if (!l)
		return;
	*lp = NULL;
	if (l->closing)
		return;
	m = l->m;
	l->closing = true;
	if (l->prev)
		l->prev->next = l->next;
	else if (m->listeners == l)
		m->listeners = l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->prev = l->next = NULL;
	rt_timer_stop(m->r, &l->rearm_timer);
	if (l->acc_inflight) {
		struct io_uring_sqe *sqe = rt_reactor_get_sqe(m->r);

		io_uring_prep_cancel_fd(sqe, l->fd, IORING_ASYNC_CANCEL_ALL);
		rt_io_set(sqe, &l->cancel_io);
		l->inflight++;
	}
	rt__listener_free_if_idle(l);
}

uint16_t
rt_listener_port(const struct rt_listener *l)
{
	return l->port;
}

void *
rt_listener_user(const struct rt_listener *l)
{
	return l->user;
}

uint64_t
rt_listener_accepted(const struct rt_listener *l)
{
	return l->accepted;
}

/* --------------------------------------------------------------- connect */

static void rt__conn_connect_attempt(struct rt_conn *c);

static bool
rt__connect_rc_is_retryable(int rc)
{
	switch (-rc) {
	case EINVAL:
	case EAFNOSUPPORT:
	case EBADF:
	case ENOTSOCK:
	case EACCES:
	case EPERM:
	case EISCONN:
		return false;
	default:
		return true;
	}
}

static void
rt__conn_connect_failed(struct rt_conn *c, int rc)
{
	const struct rt_msgr_opts *o = &c->m->opts;

	c->last_connect_rc = rc;
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (!rt__connect_rc_is_retryable(rc) ||
	    (o->connect_max_attempts && c->stats.connect_attempts >= o->connect_max_attempts)) {
		rt__conn_close_start(c, rc);
		return;
	}
	rt_debug(RT_SS_MSGR, "conn %s: connect attempt %u: " DF_RC "; retry in %u us", c->peer,
		 c->stats.connect_attempts, DP_RC(rc), c->backoff_us);
	rt_timer_start(c->m->r, &c->retry_timer, c->backoff_us, 0);
	c->backoff_us = c->backoff_us * 2 > o->connect_backoff_max_us ? o->connect_backoff_max_us
								       : c->backoff_us * 2;
}

static void
rt__conn_connect_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_conn *c = rt__container_of(io, struct rt_conn, conn_io);

	c->inflight--;
	c->refs++;
	if (c->state != RT_CONN_CONNECTING)
		goto out;
	if (res < 0) {
		/* -ECANCELED here means the linked timeout fired. */
		rt__conn_connect_failed(c, res == -ECANCELED ? -ETIMEDOUT : res);
		goto out;
	}
	c->state = RT_CONN_OPEN;
	rt_debug(RT_SS_MSGR, "conn %s: connected (attempt %u)", c->peer, c->stats.connect_attempts);
	if (c->ops->on_connect)
		c->ops->on_connect(c);
	rt__conn_start_io(c);
out:
	rt__conn_settle(c);
	rt_conn_put(&c);
}

static void
rt__conn_lt_done(struct rt_io *io, int32_t res, uint32_t flags)
{
	struct rt_conn *c = rt__container_of(io, struct rt_conn, lt_io);

	c->lt_inflight = false;
	c->inflight--;
	c->refs++;
	rt__conn_settle(c);
	rt_conn_put(&c);
}

static void
rt__conn_retry_timer(struct rt_timer *t)
{
	struct rt_conn *c = rt__container_of(t, struct rt_conn, retry_timer);

	if (c->state != RT_CONN_CONNECTING)
		return;
	if (c->lt_inflight) {
		/* The previous attempt's linked timeout has not completed yet. */
		rt_timer_start(c->m->r, &c->retry_timer, 1000, 0);
		return;
	}
	rt__conn_connect_attempt(c);
}

static void
rt__conn_connect_attempt(struct rt_conn *c)
{
	struct io_uring_sqe *sqe;
	uint32_t to = c->m->opts.connect_timeout_us;

	c->stats.connect_attempts++;
	c->fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rt__conn_connect_failed(c, -errno);
		return;
	}
	rt__conn_set_nodelay(c);
	sqe = rt_reactor_get_sqe(c->m->r);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->addr, c->addrlen);
	rt_io_set(sqe, &c->conn_io);
	c->inflight++;
	if (to) {
		sqe->flags |= IOSQE_IO_LINK;
		c->conn_ts.tv_sec = to / 1000000u;
		c->conn_ts.tv_nsec = (long long)(to % 1000000u) * 1000;
		sqe = rt_reactor_get_sqe(c->m->r);
		io_uring_prep_link_timeout(sqe, &c->conn_ts, 0);
		rt_io_set(sqe, &c->lt_io);
		c->lt_inflight = true;
		c->inflight++;
	}
}

int
rt_msgr_connect(struct rt_msgr *m, const struct sockaddr *addr, socklen_t addrlen,
		const struct rt_conn_ops *ops, void *user, struct rt_conn **out)
{
	struct rt_conn *c;
	int rc;

	*out = NULL;
	if (!addr || addrlen > sizeof(struct sockaddr_storage) || !ops || !ops->on_frame ||
	    !ops->on_close || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return -EINVAL;
	rc = rt__conn_alloc(m, -1, &c);
	if (rc < 0)
		return rc;
	c->state = RT_CONN_CONNECTING;
	c->outgoing = true;
	c->ops = ops;
	c->user = user;
	memcpy(&c->addr, addr, addrlen);
	c->addrlen = addrlen;
	c->backoff_us = m->opts.connect_backoff_us;
	c->conn_io.cb = rt__conn_connect_done;
	c->lt_io.cb = rt__conn_lt_done;
	rt_timer_init(&c->retry_timer, rt__conn_retry_timer);
	rt_msgr_addr_str(addr, c->peer, sizeof(c->peer));
	rt__conn_connect_attempt(c);
	*out = c;
	return 0;
}
