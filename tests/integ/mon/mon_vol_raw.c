/*
 * The monitor's volume RPCs on raw frames (no client library in between), for
 * test_mon_volumes.sh:
 *   - sizes must be multiples of 4096; 0 is allowed;
 *   - VolumeResize below the size without allow_shrink: STATUS_EINVAL; with
 *     it: applied; by volume_id: follows a rename;
 *   - VolumeWatch on an unknown id: STATUS_ENOENT;
 *   - VolumeRemove while a watch exists (any connection): STATUS_EBUSY;
 *     after unwatch, or after the watching connection closed: removed.
 * Usage: mon_vol_raw HOST PORT POOL. Prints PASS and exits 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.pb-c.h"
#include "frame.h"
#include "mon.pb-c.h"
#include "rt_arena.h"

#define CHECK(c)                                                                           \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);       \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static const char *g_host;
static int g_port;
static uint64_t g_tag = 1;
static struct rt_arena g_arena;

static int
mon_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port) };
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	CHECK(inet_pton(AF_INET, g_host, &sa.sin_addr) == 1);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
io_all(int fd, void *buf, size_t len, bool wr)
{
	unsigned char *p = buf;

	while (len) {
		ssize_t n = wr ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);

		CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Send a request, return the reply's message (in g_arena) and its type. */
static ProtobufCMessage *
call(int fd, uint16_t type, const ProtobufCMessage *req, uint16_t *rtype)
{
	size_t need = frame_encoded_size(req);
	unsigned char *buf = malloc(need), hb[FRAME_HDR_LEN];
	struct frame_limits lim;
	struct frame_hdr hdr;
	ProtobufCMessage *msg = NULL;
	uint64_t tag = g_tag++;
	ssize_t n;

	CHECK(buf);
	n = frame_encode(buf, need, type, tag, 0, req, NULL, 0);
	CHECK(n > 0);
	io_all(fd, buf, (size_t)n, true);
	free(buf);
	frame_limits_init(&lim);
	for (int i = 0; i < 100; i++) {
		io_all(fd, hb, sizeof(hb), false);
		CHECK(frame_hdr_decode(hb, &lim, &hdr) == 0);
		buf = malloc(hdr.msg_len + 1);
		CHECK(buf);
		io_all(fd, buf, hdr.msg_len, false);
		if ((hdr.flags & FRAME_F_REPLY) && hdr.tag == tag) {
			rt_arena_reset(&g_arena);
			CHECK(frame_msg_decode(&hdr, buf, &g_arena, &msg) == 0);
			free(buf);
			*rtype = hdr.type;
			return msg;
		}
		free(buf); /* a map push */
	}
	CHECK(!"no reply");
	return NULL;
}

static int
vol_status(int fd, uint16_t type, const ProtobufCMessage *req, Tessera__VolumeReply **out)
{
	uint16_t rt;
	ProtobufCMessage *m = call(fd, type, req, &rt);

	CHECK(rt == FRAME_T_VOL_REPLY);
	if (out)
		*out = (Tessera__VolumeReply *)m;
	if (((Tessera__VolumeReply *)m)->status)
		fprintf(stderr, "  %s: %s\n", frame_type_name(type),
			((Tessera__VolumeReply *)m)->message);
	return ((Tessera__VolumeReply *)m)->status;
}

static int
create(int fd, const char *name, const char *pool, uint64_t size)
{
	Tessera__VolumeCreate c = TESSERA__VOLUME_CREATE__INIT;

	c.name = (char *)name;
	c.pool = (char *)pool;
	c.size = size;
	c.object_size = 1u << 20;
	return vol_status(fd, FRAME_T_VOL_CREATE, &c.base, NULL);
}

static int
resize(int fd, const char *name, uint64_t id, uint64_t size, bool shrink, uint64_t *got)
{
	Tessera__VolumeResize r = TESSERA__VOLUME_RESIZE__INIT;
	Tessera__VolumeReply *rep;
	int st;

	r.name = (char *)name;
	r.volume_id = id;
	r.size = size;
	r.allow_shrink = shrink;
	st = vol_status(fd, FRAME_T_VOL_RESIZE, &r.base, &rep);
	if (st == 0 && got && rep->volume)
		*got = rep->volume->size;
	return st;
}

static int
rm(int fd, const char *name)
{
	Tessera__VolumeRemove r = TESSERA__VOLUME_REMOVE__INIT;

	r.name = (char *)name;
	return vol_status(fd, FRAME_T_VOL_REMOVE, &r.base, NULL);
}

static uint64_t
vol_id(int fd, const char *name)
{
	Tessera__VolumeGet g = TESSERA__VOLUME_GET__INIT;
	Tessera__VolumeReply *rep;

	g.name = (char *)name;
	CHECK(vol_status(fd, FRAME_T_VOL_GET, &g.base, &rep) == 0 && rep->volume);
	return rep->volume->id;
}

static int
watch(int fd, uint64_t id, uint64_t client, bool unwatch)
{
	Tessera__VolumeWatch w = TESSERA__VOLUME_WATCH__INIT;
	uint16_t rt;
	Tessera__Reply *r;

	w.volume_id = id;
	w.client_id = client;
	w.unwatch = unwatch;
	r = (Tessera__Reply *)call(fd, FRAME_T_VOL_WATCH, &w.base, &rt);
	CHECK(rt == FRAME_T_REPLY);
	return r->status;
}

int
main(int argc, char **argv)
{
	const char *pool;
	uint64_t id, got = 0;
	int a, b, st = -1;

	if (argc != 4) {
		fprintf(stderr, "usage: mon_vol_raw HOST PORT POOL\n");
		return 2;
	}
	g_host = argv[1];
	g_port = atoi(argv[2]);
	pool = argv[3];
	CHECK(rt_arena_init(&g_arena, 4u << 20) == 0);
	a = mon_connect();
	b = mon_connect();

	CHECK(create(a, "raw-odd", pool, 4097) == TESSERA__STATUS__STATUS_EINVAL);
	CHECK(create(a, "raw-zero", pool, 0) == 0);
	CHECK(rm(a, "raw-zero") == 0);
	CHECK(create(a, "raw-1", pool, 8u << 20) == 0);
	id = vol_id(a, "raw-1");
	CHECK(resize(a, "raw-1", 0, 4u << 20, false, NULL) == TESSERA__STATUS__STATUS_EINVAL);
	CHECK(resize(a, "raw-1", 0, 4097, true, NULL) == TESSERA__STATUS__STATUS_EINVAL);
	CHECK(resize(a, "raw-1", 0, 4u << 20, true, &got) == 0 && got == 4u << 20);
	CHECK(resize(a, "raw-1", 0, 16u << 20, false, &got) == 0 && got == 16u << 20);
	{
		Tessera__VolumeRename r = TESSERA__VOLUME_RENAME__INIT;

		r.name = "raw-1";
		r.new_name = "raw-2";
		CHECK(vol_status(a, FRAME_T_VOL_RENAME, &r.base, NULL) == 0);
	}
	/* By id, with a stale name: the volume is found by id. */
	CHECK(resize(a, "raw-1", id, 20u << 20, false, &got) == 0 && got == 20u << 20);
	CHECK(resize(a, "", id + 1000, 4096, true, NULL) == TESSERA__STATUS__STATUS_ENOENT);

	CHECK(watch(a, id + 1000, 7, false) == TESSERA__STATUS__STATUS_ENOENT);
	CHECK(watch(a, id, 7, false) == 0);
	CHECK(watch(a, id, 7, false) == 0); /* idempotent */
	CHECK(rm(b, "raw-2") == TESSERA__STATUS__STATUS_EBUSY);
	CHECK(watch(a, id, 7, true) == 0);
	CHECK(watch(a, id, 7, true) == 0); /* unwatching twice is fine */
	CHECK(rm(b, "raw-2") == 0);

	/* A watch goes with its connection. */
	CHECK(create(b, "raw-3", pool, 1u << 20) == 0);
	id = vol_id(b, "raw-3");
	CHECK(watch(a, id, 9, false) == 0);
	CHECK(rm(b, "raw-3") == TESSERA__STATUS__STATUS_EBUSY);
	close(a);
	for (int i = 0; i < 200; i++) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		st = rm(b, "raw-3");
		if (st != TESSERA__STATUS__STATUS_EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	CHECK(st == 0);
	close(b);
	rt_arena_fini(&g_arena);
	printf("PASS\n");
	return 0;
}
