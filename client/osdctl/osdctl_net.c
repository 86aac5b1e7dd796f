/*
 * osdctl's monitor client: blocking TCP with poll() deadlines, one request in
 * flight, frames encoded and decoded with proto/frame.h. Redirects
 * (STATUS_ENOTLEADER with the leader's address) are followed; unreachable
 * monitors and "no quorum yet" answers are retried on the next monitor until
 * the deadline.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "mon.pb-c.h"
#include "osdctl.h"
#include "rt_err.h"

#define OSDCTL_ARENA_BYTES (32u << 20)

uint64_t
osdctl_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
osdctl_client_init(struct osdctl_client *c, const char *mons, uint64_t timeout_us)
{
	const char *p = mons;
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->timeout_us = timeout_us;
	c->next_tag = 1;
	frame_limits_init(&c->lim);
	c->lim.max_msg_len = 64u << 20 > FRAME_MAX_MSG_LEN_DEFAULT ? FRAME_MAX_MSG_LEN_DEFAULT
								 : 64u << 20;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len >= sizeof(c->mons[0]) || c->n_mons >= OSDCTL_MAX_MONS)
			return -EINVAL;
		memcpy(c->mons[c->n_mons], p, len);
		c->mons[c->n_mons][len] = '\0';
		if (!strrchr(c->mons[c->n_mons], ':'))
			return -EINVAL;
		c->n_mons++;
		p = comma ? comma + 1 : NULL;
	}
	if (c->n_mons == 0)
		return -EINVAL;
	rc = rt_arena_init(&c->arena, OSDCTL_ARENA_BYTES);
	return rc;
}

void
osdctl_client_fini(struct osdctl_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	rt_arena_fini(&c->arena);
}

static int
remaining_ms(uint64_t deadline)
{
	uint64_t now = osdctl_now_us();

	return now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
}

static int
connect_to(const char *addr, uint64_t deadline, int *out)
{
	char host[80];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	unsigned long port;
	char *end;
	int fd, rc, one = 1, err = 0;
	socklen_t el = sizeof(err);
	struct pollfd pfd;
	size_t hl;

	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - addr);
	if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']') {
		addr++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, (struct sockaddr *)&ss, sl);
	if (rc < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	rc = poll(&pfd, 1, remaining_ms(deadline));
	if (rc <= 0) {
		close(fd);
		return rc == 0 ? -ETIMEDOUT : -errno;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		close(fd);
		return -err;
	}
	*out = fd;
	return 0;
}

static int
io_all(int fd, void *buf, size_t len, bool wr, uint64_t deadline)
{
	unsigned char *p = buf;

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = wr ? POLLOUT : POLLIN };
		ssize_t n;
		int rc = poll(&pfd, 1, remaining_ms(deadline));

		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = wr ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_frame(struct osdctl_client *c, uint16_t type, uint64_t tag, const ProtobufCMessage *req,
	   uint64_t deadline)
{
	size_t need = frame_encoded_size(req);
	unsigned char *buf = malloc(need);
	ssize_t n;
	int rc;

	if (!buf)
		return -ENOMEM;
	n = frame_encode(buf, need, type, tag, 0, req, NULL, 0);
	rc = n < 0 ? (int)n : io_all(c->fd, buf, (size_t)n, true, deadline);
	free(buf);
	return rc;
}

static int
recv_reply(struct osdctl_client *c, uint64_t tag, uint64_t deadline, uint16_t *type,
	   ProtobufCMessage **msg)
{
	unsigned char hdr_buf[FRAME_HDR_LEN];
	struct frame_hdr hdr;
	unsigned char *body = NULL;
	int rc;

	for (int skipped = 0; skipped < 1000; skipped++) {
		rc = io_all(c->fd, hdr_buf, sizeof(hdr_buf), false, deadline);
		if (rc < 0)
			return rc;
		rc = frame_hdr_decode(hdr_buf, &c->lim, &hdr);
		if (rc < 0)
			return rc;
		body = malloc(hdr.msg_len + hdr.data_len + 1);
		if (!body)
			return -ENOMEM;
		rc = io_all(c->fd, body, hdr.msg_len + hdr.data_len, false, deadline);
		if (rc < 0)
			goto out_free;
		/* Map pushes and other unsolicited frames are skipped. */
		if (!(hdr.flags & FRAME_F_REPLY) || hdr.tag != tag) {
			free(body);
			body = NULL;
			continue;
		}
		rt_arena_reset(&c->arena);
		rc = frame_msg_decode(&hdr, body, &c->arena, msg);
		if (rc == 0)
			*type = hdr.type;
		goto out_free;
	}
	return -EPROTO;
out_free:
	free(body);
	return rc;
}

/* Status and redirect fields of the replies osdctl handles. */
static void
reply_status(uint16_t type, const ProtobufCMessage *m, int *status, uint32_t *leader_id,
	     const Tessera__Address **leader)
{
	*status = 0;
	*leader_id = 0;
	*leader = NULL;
	switch (type) {
	case FRAME_T_ADMIN_REPLY: {
		const Tessera__AdminReply *r = (const Tessera__AdminReply *)m;

		*status = r->status;
		*leader_id = r->leader_id;
		*leader = r->leader_addr;
		break;
	}
	case FRAME_T_REPLY: {
		const Tessera__Reply *r = (const Tessera__Reply *)m;

		*status = r->status;
		*leader_id = r->leader_id;
		*leader = r->leader_addr;
		break;
	}
	case FRAME_T_OSD_BOOT_REPLY:
		*status = ((const Tessera__OsdBootReply *)m)->status;
		break;
	case FRAME_T_MAP_REPLY:
		*status = ((const Tessera__MapReply *)m)->status;
		break;
	default:
		break;
	}
}

int
osdctl_send_only(struct osdctl_client *c, uint16_t type, const ProtobufCMessage *req)
{
	uint64_t deadline = osdctl_now_us() + c->timeout_us;

	if (c->fd < 0)
		return -ENOTCONN;
	return send_frame(c, type, c->next_tag++, req, deadline);
}

int
osdctl_call(struct osdctl_client *c, uint16_t type, const ProtobufCMessage *req,
	    uint16_t *reply_type, ProtobufCMessage **reply)
{
	uint64_t deadline = osdctl_now_us() + c->timeout_us;
	int rc = -ETIMEDOUT, redirects = 0;
	uint32_t attempt = 0;

	c->err[0] = '\0';
	while (osdctl_now_us() < deadline) {
		const char *target = c->leader[0] ? c->leader : c->mons[c->cur % c->n_mons];
		uint64_t tag = c->next_tag++;
		const Tessera__Address *la;
		uint32_t lid;
		int status;

		if (c->fd < 0) {
			rc = connect_to(target, deadline, &c->fd);
			if (rc < 0) {
				snprintf(c->err, sizeof(c->err), "cannot reach monitor %s: %s",
					 target, rt_strerror(rc));
				goto next;
			}
		}
		rc = send_frame(c, type, tag, req, deadline);
		if (rc == 0)
			rc = recv_reply(c, tag, deadline, reply_type, reply);
		if (rc < 0) {
			snprintf(c->err, sizeof(c->err), "monitor %s: %s", target, rt_strerror(rc));
			goto next;
		}
		reply_status(*reply_type, *reply, &status, &lid, &la);
		if (status == TESSERA__STATUS__STATUS_ENOTLEADER && la && la->host &&
		    redirects < 8) {
			snprintf(c->leader, sizeof(c->leader), "%s%s%s:%u",
				 strchr(la->host, ':') ? "[" : "", la->host,
				 strchr(la->host, ':') ? "]" : "", la->port);
			close(c->fd);
			c->fd = -1;
			redirects++;
			continue;
		}
		if (status == TESSERA__STATUS__STATUS_ENOTLEADER ||
		    status == TESSERA__STATUS__STATUS_ENOQUORUM ||
		    status == TESSERA__STATUS__STATUS_EAGAIN) {
			snprintf(c->err, sizeof(c->err), "monitor %s: %s", target,
				 rt_strerror(frame_status_to_errno(status)));
			rc = frame_status_to_errno(status);
			goto next;
		}
		return 0;
next:
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		c->leader[0] = '\0';
		if (c->single_try)
			break;
		c->cur++;
		if (++attempt % c->n_mons == 0) {
			/* A full round failed: wait a little (an election may be running). */
			int ms = remaining_ms(deadline);

			usleep((useconds_t)(ms < 200 ? ms : 200) * 1000);
		}
	}
	if (!c->err[0])
		snprintf(c->err, sizeof(c->err), "no monitor answered within %llu ms",
			 (unsigned long long)(c->timeout_us / 1000));
	return rc < 0 ? rc : -ETIMEDOUT;
}

int
osdctl_recv_any(struct osdctl_client *c, uint16_t *type, ProtobufCMessage **msg)
{
	uint64_t deadline = osdctl_now_us() + c->timeout_us;
	unsigned char hdr_buf[FRAME_HDR_LEN];
	struct frame_hdr hdr;
	unsigned char *body;
	int rc;

	if (c->fd < 0)
		return -ENOTCONN;
	rc = io_all(c->fd, hdr_buf, sizeof(hdr_buf), false, deadline);
	if (rc < 0)
		return rc;
	rc = frame_hdr_decode(hdr_buf, &c->lim, &hdr);
	if (rc < 0)
		return rc;
	body = malloc(hdr.msg_len + hdr.data_len + 1);
	if (!body)
		return -ENOMEM;
	rc = io_all(c->fd, body, hdr.msg_len + hdr.data_len, false, deadline);
	if (rc == 0) {
		rt_arena_reset(&c->arena);
		rc = frame_msg_decode(&hdr, body, &c->arena, msg);
		*type = hdr.type;
	}
	free(body);
	return rc;
}
