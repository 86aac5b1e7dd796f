/*
 * tessera-osd-testcli: a small blocking client for the OSD integration tests.
 * It fetches the map from a monitor, computes each object's PG (rt_pg.h) and
 * primary, and speaks FRAME_T_CLIENT_OP over plain blocking sockets.
 *
 *   tessera-osd-testcli run    --mon ADDR --pool NAME --objects N --state FILE
 *   tessera-osd-testcli resend --mon ADDR --pool NAME --state FILE
 *   tessera-osd-testcli verify --mon ADDR --pool NAME --objects N
 *   tessera-osd-testcli write-one --mon ADDR --pool NAME --oid N --expect STATUS
 *   tessera-osd-testcli bench --mon ADDR --pool NAME --objects N   (N ops each)
 *   tessera-osd-testcli rewrite --mon ADDR --pool NAME --objects N --base B
 *   tessera-osd-testcli delete-one|absent --mon ADDR --pool NAME --oid N [--wait T]
 *   tessera-osd-testcli hang-write --oid OSD_ID --state FILE; resend-hung --state FILE
 *   tessera-osd-testcli check-one --oid N --base P [--wait T]
 *   tessera-osd-testcli load --objects N --oid WRITES --base B --state FILE
 *   tessera-osd-testcli verify-load --state FILE [--wait T]
 * verify and rewrite take --base B (the pattern seed base, default 1000);
 * --wait T polls a member that differs up to T times (100 ms apart) while
 * recovery runs.
 *
 * run: writes N objects and reads them back from the primary and from every
 * member of the acting set (OSD_OPF_LOCAL_READ); checks duplicate detection
 * (a resend with the same req id is answered from the PG log and not
 * applied), compare-and-write (match and miscompare offset), stat, discard,
 * write-zeroes, delete; error replies (not primary, stale epoch, unaligned,
 * out of range, wrong PG); garbage bytes to an OSD port (that connection is
 * closed, the OSD keeps serving). It saves what `resend` needs in FILE.
 * resend: after the OSDs restarted, resends the saved request and checks it
 * is still answered from the log (same version, data unchanged).
 * verify: reads the N objects again from every member.
 * write-one: one write of object N; its status must be STATUS (a number).
 *
 * Exit 0 when every check passed; prints "FAIL: ..." and exits 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "map.pb-c.h"
#include "mon.pb-c.h"
#include "mon_map.h"
#include "mon_map_pb.h"
#include "osd.pb-c.h"
#include "osd_wire.h"
#include "rt_arena.h"
#include "rt_err.h"
#include "rt_msgr.h"
#include "rt_pg.h"

#define OBJ_BYTES (8u * 4096u)

static const char *g_mon;
static struct mon_map *g_map;
static const struct mon_pool *g_pool;
static uint64_t g_client_id;
static uint64_t g_req_id;
static struct rt_arena g_arena;
static int g_checks;

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void
check(bool ok, const char *what)
{
	if (!ok)
		fail("%s", what);
	g_checks++;
}

/* ---- blocking frames ----------------------------------------------------------------- */

static int
tcp_connect(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct timeval tv = { 10, 0 };
	int fd, one = 1;

	if (rt_msgr_parse_addr(addr, &ss, &sl) < 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

static int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno; /* -EPIPE/-ECONNRESET: the OSD died (retried by op_run) */
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ESHUTDOWN;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
send_frame(int fd, uint16_t type, uint64_t tag, const ProtobufCMessage *msg, const void *data,
	   size_t data_len)
{
	struct iovec iov = { (void *)data, data_len };
	uint8_t head[8192];
	ssize_t n = frame_encode(head, sizeof(head), type, tag, data_len ? FRAME_F_DATA_CRC : 0,
				 msg, data_len ? &iov : NULL, data_len ? 1 : 0);
	int rc;

	if (n < 0)
		return (int)n;
	rc = write_all(fd, head, (size_t)n);
	if (rc == 0 && data_len)
		rc = write_all(fd, data, data_len);
	return rc;
}

/* Receive one frame; msg in g_arena; data (if any) into a malloc'd *data. */
static int
recv_frame(int fd, struct frame_hdr *hdr, ProtobufCMessage **msg, void **data)
{
	struct frame_limits lim;
	uint8_t hb[FRAME_HDR_LEN];
	void *mb;
	int rc;

	frame_limits_init(&lim);
	*data = NULL;
	rc = read_all(fd, hb, sizeof(hb));
	if (rc < 0)
		return rc;
	rc = frame_hdr_decode(hb, &lim, hdr);
	if (rc < 0)
		return rc;
	mb = malloc(hdr->msg_len + 1);
	if (!mb)
		return -ENOMEM;
	rc = read_all(fd, mb, hdr->msg_len);
	if (rc == 0) {
		rt_arena_reset(&g_arena);
		rc = frame_msg_decode(hdr, mb, &g_arena, msg);
	}
	free(mb);
	if (rc < 0)
		return rc;
	if (hdr->data_len) {
		*data = malloc(hdr->data_len);
		if (!*data)
			return -ENOMEM;
		rc = read_all(fd, *data, hdr->data_len);
		if (rc == 0) {
			struct iovec iov = { *data, hdr->data_len };

			rc = frame_data_verify(hdr, &iov, 1);
		}
	}
	return rc;
}

/* A small cache of OSD connections (by address), so that a benchmark measures ops,
 * not connects. A connection that fails is dropped and made again once. */
static struct {
	char addr[128];
	int fd;
} g_conns[32];

static int
conn_get(const char *addr)
{
	int fd;

	for (int i = 0; i < 32; i++)
		if (g_conns[i].fd > 0 && strcmp(g_conns[i].addr, addr) == 0)
			return g_conns[i].fd;
	fd = tcp_connect(addr);
	if (fd < 0)
		return fd;
	for (int i = 0; i < 32; i++) {
		if (g_conns[i].fd <= 0) {
			snprintf(g_conns[i].addr, sizeof(g_conns[i].addr), "%s", addr);
			g_conns[i].fd = fd;
			return fd;
		}
	}
	close(g_conns[0].fd);
	snprintf(g_conns[0].addr, sizeof(g_conns[0].addr), "%s", addr);
	g_conns[0].fd = fd;
	return fd;
}

static void
conn_drop(int fd)
{
	for (int i = 0; i < 32; i++)
		if (g_conns[i].fd == fd)
			g_conns[i].fd = 0;
	close(fd);
}

/* ---- the map --------------------------------------------------------------------------- */

static char g_pool_name[MON_NAME_MAX];
static struct mon_map *g_old_maps[4096];
static size_t g_n_old;

static void
map_fetch(const char *pool_name)
{
	Tessera__GetMap g = TESSERA__GET_MAP__INIT;
	const Tessera__MapReply *r;
	struct frame_hdr hdr;
	ProtobufCMessage *msg;
	void *data;
	int fd, rc;

	if (pool_name != g_pool_name)
		snprintf(g_pool_name, sizeof(g_pool_name), "%s", pool_name);
	fd = tcp_connect(g_mon);
	if (fd < 0)
		fail("connect to monitor %s: %s", g_mon, rt_strerror(fd));
	rc = send_frame(fd, FRAME_T_GET_MAP, 1, &g.base, NULL, 0);
	if (rc == 0)
		rc = recv_frame(fd, &hdr, &msg, &data);
	close(fd);
	free(data);
	if (rc < 0 || hdr.type != FRAME_T_MAP_REPLY)
		fail("GetMap: %s", rc < 0 ? rt_strerror(rc) : frame_type_name(hdr.type));
	r = (const Tessera__MapReply *)msg;
	if (r->status != TESSERA__STATUS__STATUS_OK || !r->map)
		fail("GetMap: status %d", r->status);
	/* Older maps stay valid until exit: callers hold pointers into them. */
	if (g_map) {
		if (g_n_old < sizeof(g_old_maps) / sizeof(g_old_maps[0]))
			g_old_maps[g_n_old++] = g_map;
		else
			mon_map_destroy(&g_map);
		g_map = NULL;
	}
	rc = mon_map_from_pb(r->map, &g_map);
	if (rc < 0)
		fail("map does not validate: %s", rt_strerror(rc));
	g_pool = mon_map_pool_by_name(g_map, g_pool_name);
	if (!g_pool)
		fail("no pool '%s' in map e%" PRIu64, g_pool_name, g_map->epoch);
}

static const struct mon_pg *
pg_of(uint64_t oid, uint32_t *seed)
{
	*seed = rt_pg_of(g_pool->id, oid, g_pool->pg_count);
	return &g_pool->pgs[*seed];
}

static void
osd_addr(uint32_t osd_id, uint32_t seed, char *buf, size_t len)
{
	const struct mon_osd *o = mon_map_osd(g_map, osd_id);
	const struct mon_addr *a;

	if (!o || !o->n_reactors)
		fail("osd.%u is not in the map", osd_id);
	a = &o->reactors[rt_pg_reactor(seed, o->n_reactors)];
	snprintf(buf, len, "%s:%u", a->host, a->port);
}

/* ---- ops ------------------------------------------------------------------------------- */

struct op_res {
	int status;
	uint64_t version;
	uint64_t epoch;
	uint64_t object_size;
	uint64_t miscompare;
	uint8_t *data;
	uint64_t data_len;
};

struct op_req {
	Tessera__OpType op;
	uint64_t oid;
	uint64_t off, len;
	const void *data;
	size_t data_len;
	uint32_t flags;
	uint64_t req_id;    /* 0: a new one */
	int64_t target;     /* OSD id; -1: the primary */
	int64_t epoch_adj;  /* added to the map epoch */
	int64_t seed_adj;   /* added to the PG seed */
};

static void
res_free(struct op_res *r)
{
	free(r->data);
	r->data = NULL;
}

static int
op_once(const struct op_req *q, struct op_res *res, uint64_t req_id)
{
	Tessera__ClientOp m = TESSERA__CLIENT_OP__INIT;
	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	Tessera__PgId pgid = TESSERA__PG_ID__INIT;
	const Tessera__ClientOpReply *r;
	const struct mon_pg *pg;
	struct frame_hdr hdr;
	ProtobufCMessage *msg;
	uint32_t seed, target;
	char addr[128];
	void *data = NULL;
	int fd, rc;

	pg = pg_of(q->oid, &seed);
	if (pg->n_acting == 0)
		fail("PG %u.%x has no acting set", g_pool->id, seed);
	target = q->target >= 0 ? (uint32_t)q->target : pg->acting[0];
	osd_addr(target, seed, addr, sizeof(addr));
	oid.pool = g_pool->id;
	oid.id = q->oid;
	pgid.pool = g_pool->id;
	pgid.seed = (uint32_t)((int64_t)seed + q->seed_adj);
	m.client_id = g_client_id;
	m.req_id = req_id;
	m.epoch = (uint64_t)((int64_t)g_map->epoch + q->epoch_adj);
	m.op = q->op;
	m.oid = &oid;
	m.pg = &pgid;
	m.offset = q->off;
	m.length = q->len;
	m.flags = q->flags;
	for (int attempt = 0; attempt < 2; attempt++) {
		fd = conn_get(addr);
		if (fd < 0)
			return fd;
		rc = send_frame(fd, FRAME_T_CLIENT_OP, req_id, &m.base, q->data, q->data_len);
		if (rc == 0)
			rc = recv_frame(fd, &hdr, &msg, &data);
		if (rc == 0)
			break;
		conn_drop(fd); /* a cached connection the OSD closed: make a new one */
		free(data);
		data = NULL;
	}
	if (rc < 0) {
		free(data);
		return rc;
	}
	if (hdr.type != FRAME_T_CLIENT_OP_REPLY || hdr.tag != req_id)
		fail("unexpected reply %s tag %" PRIu64, frame_type_name(hdr.type), hdr.tag);
	r = (const Tessera__ClientOpReply *)msg;
	memset(res, 0, sizeof(*res));
	res->status = r->status;
	res->epoch = r->epoch;
	res->version = r->version ? (r->version->epoch << 32 | r->version->seq) : 0;
	res->object_size = r->object_size;
	res->miscompare = r->miscompare_offset;
	res->data = data;
	res->data_len = hdr.data_len;
	return 0;
}

/* Run an op; a stale epoch refreshes the map and retries (bounded). */
static void
op_run(const struct op_req *q, struct op_res *res)
{
	uint64_t req_id = q->req_id ? q->req_id : ++g_req_id;
	int rc;

	for (int attempt = 0; attempt < 50; attempt++) {
		rc = op_once(q, res, req_id);
		if (rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -ESHUTDOWN || rc == -EPIPE) {
			/* An OSD restarting: refresh the map and retry (bounded). */
			struct timespec ts = { 0, 100 * 1000000 };

			nanosleep(&ts, NULL);
			map_fetch(g_pool_name);
			continue;
		}
		if (rc < 0)
			fail("op %d on object %" PRIu64 ": %s", q->op, q->oid, rt_strerror(rc));
		if (q->epoch_adj == 0 && q->seed_adj == 0 &&
		    (res->status == TESSERA__STATUS__STATUS_ESTALE_EPOCH ||
		     res->status == TESSERA__STATUS__STATUS_EAGAIN ||
		     (res->status == TESSERA__STATUS__STATUS_ENOTPRIMARY && q->target < 0))) {
			struct timespec ts = { 0, 50 * 1000000 };

			res_free(res);
			nanosleep(&ts, NULL); /* back-off before a retry, not a timing assertion */
			map_fetch(g_pool_name);
			continue;
		}
		return;
	}
	fail("op %d on object %" PRIu64 ": still status %d after 50 attempts", q->op, q->oid,
	     res->status);
}

static void
pattern(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

/* --tagged 1: every 4 KiB block of an object starts with a marker naming the
 * object and the block, so that a test can find it in a device file. */
static int g_tagged;

static void
tag_blocks(uint8_t *buf, size_t len, uint64_t oid)
{
	if (!g_tagged)
		return;
	for (size_t b = 0; b * 4096 < len; b++) {
		char m[64];
		int n = snprintf(m, sizeof(m), "TSRSCRUB oid=%" PRIu64 " blk=%zu;", oid, b);

		memcpy(buf + b * 4096, m, (size_t)n);
	}
}

static void
expect_status(const struct op_res *r, int want, const char *what)
{
	if (r->status != want)
		fail("%s: status %d, expected %d", what, r->status, want);
	g_checks++;
}

static void
write_obj(uint64_t oid, uint64_t pat, uint64_t req_id, struct op_res *res)
{
	static uint8_t buf[OBJ_BYTES];
	struct op_req q = { .op = TESSERA__OP_TYPE__OP_WRITE, .oid = oid, .off = 0,
			    .len = OBJ_BYTES, .data = buf, .data_len = OBJ_BYTES, .req_id = req_id,
			    .target = -1 };

	pattern(buf, sizeof(buf), pat);
	tag_blocks(buf, sizeof(buf), oid);
	op_run(&q, res);
}

static int g_retry_replicas; /* verify: poll a replica that differs (recovery running) */

static void
read_check(uint64_t oid, uint64_t pat, int64_t target, const char *what)
{
	static uint8_t want[OBJ_BYTES];
	struct op_req q = { .op = TESSERA__OP_TYPE__OP_READ, .oid = oid, .off = 0,
			    .len = OBJ_BYTES, .target = target,
			    .flags = target >= 0 ? OSD_OPF_LOCAL_READ : 0 };
	struct op_res r;
	char msg[160];

	pattern(want, sizeof(want), pat);
	tag_blocks(want, sizeof(want), oid);
	op_run(&q, &r);
	for (int i = 0; i < g_retry_replicas && target >= 0 &&
			(r.status != 0 || r.data_len != OBJ_BYTES || memcmp(r.data, want, OBJ_BYTES));
	     i++) {
		struct timespec ts = { 0, 100 * 1000000 };

		res_free(&r);
		nanosleep(&ts, NULL); /* polling against a deadline while recovery runs */
		op_run(&q, &r);
	}
	snprintf(msg, sizeof(msg), "%s: read object %" PRIu64 " from %s%" PRId64, what, oid,
		 target >= 0 ? "osd." : "primary ", target);
	expect_status(&r, 0, msg);
	if (r.data_len != OBJ_BYTES || memcmp(r.data, want, OBJ_BYTES) != 0)
		fail("%s: data differs", msg);
	res_free(&r);
}

static void
verify_all(uint64_t n, uint64_t pat_base)
{
	for (uint64_t i = 0; i < n; i++) {
		uint32_t seed;
		const struct mon_pg *pg = pg_of(i, &seed);

		read_check(i, pat_base + i, -1, "verify");
		for (uint32_t k = 0; k < pg->n_acting; k++)
			read_check(i, pat_base + i, pg->acting[k], "replica");
	}
}

/* ---- scrub ------------------------------------------------------------------------------ */

/*
 * corrupt --device FILE --oid N [--block B]: find block B of object N (written
 * with --tagged 1) in an OSD's device file by its marker and flip bytes after
 * the marker in every copy found (the journal may hold one besides the home
 * block). Behind the store's back: run it while the OSD is stopped.
 */
static int
corrupt_file(const char *path, uint64_t oid, uint64_t blk)
{
	static uint8_t buf[1 << 20];
	char m[64];
	int n = snprintf(m, sizeof(m), "TSRSCRUB oid=%" PRIu64 " blk=%" PRIu64 ";", oid, blk);
	int fd = path ? open(path, O_RDWR) : -1;
	uint64_t off = 0, found = 0;
	ssize_t got;

	if (fd < 0) {
		fprintf(stderr, "corrupt: needs --device FILE (%s)\n", strerror(errno));
		return 2;
	}
	while ((got = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
		for (ssize_t i = 0; i + 4096 <= got; i += 4096) {
			if (memcmp(buf + i, m, (size_t)n) != 0)
				continue;
			for (int k = 0; k < 64; k++)
				buf[i + 100 + k] ^= 0x5a;
			if (pwrite(fd, buf + i + 100, 64, (off_t)(off + (uint64_t)i + 100)) != 64) {
				fprintf(stderr, "corrupt: pwrite: %s\n", strerror(errno));
				close(fd);
				return 1;
			}
			printf("corrupted block %" PRIu64 " of object %" PRIu64 " at file offset %" PRIu64
			       "\n", blk, oid, off + (uint64_t)i);
			found++;
		}
		off += (uint64_t)got;
	}
	fsync(fd);
	close(fd);
	if (!found) {
		fprintf(stderr, "corrupt: marker '%s' not found in %s\n", m, path);
		return 1;
	}
	return 0;
}

/* scrub [--pg SEED] [--no-repair 1]: ask the primary of one PG (or of every PG) to scrub it now;
 * prints one line per PG and the totals. */
static void
scrub_pgs(int64_t only_seed, int no_repair)
{
	uint64_t tot[5] = { 0 };

	for (uint32_t s = 0; s < g_pool->pg_count; s++) {
		Tessera__ScrubPg m = TESSERA__SCRUB_PG__INIT;
		Tessera__PgId pid = TESSERA__PG_ID__INIT;
		const Tessera__ScrubPgReply *r;
		const struct mon_pg *pg = &g_pool->pgs[s];
		struct frame_hdr hdr;
		ProtobufCMessage *msg;
		void *data = NULL;
		char addr[128];
		int fd, rc = 0;

		if (only_seed >= 0 && s != (uint32_t)only_seed)
			continue;
		if (!pg->n_acting)
			fail("PG %u.%x has no acting set", g_pool->id, s);
		for (int attempt = 0; attempt < 100; attempt++) {
			osd_addr(pg->acting[0], s, addr, sizeof(addr));
			pid.pool = g_pool->id;
			pid.seed = s;
			m.epoch = g_map->epoch;
			m.pg = &pid;
			m.no_repair = no_repair != 0;
			fd = tcp_connect(addr);
			if (fd < 0)
				fail("connect %s: %s", addr, rt_strerror(fd));
			{
				struct timeval tv = { 120, 0 };

				setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			}
			rc = send_frame(fd, FRAME_T_SCRUB_PG, 1, &m.base, NULL, 0);
			if (rc == 0)
				rc = recv_frame(fd, &hdr, &msg, &data);
			close(fd);
			free(data);
			if (rc < 0)
				fail("scrub of PG %u.%x: %s", g_pool->id, s, rt_strerror(rc));
			if (hdr.type != FRAME_T_SCRUB_PG_REPLY)
				fail("scrub: unexpected reply %s", frame_type_name(hdr.type));
			r = (const Tessera__ScrubPgReply *)msg;
			if (r->status == TESSERA__STATUS__STATUS_EAGAIN ||
			    r->status == TESSERA__STATUS__STATUS_ENOTPRIMARY) {
				struct timespec ts = { 0, 100 * 1000000 };

				nanosleep(&ts, NULL); /* peering or a map change: retry */
				map_fetch(g_pool_name);
				pg = &g_pool->pgs[s];
				continue;
			}
			if (r->status != TESSERA__STATUS__STATUS_OK)
				fail("scrub of PG %u.%x: status %d", g_pool->id, s, r->status);
			printf("scrub PG %u.%x on osd.%u: objects %" PRIu64 " bytes %" PRIu64
			       " errors %" PRIu64 " repaired %" PRIu64 " unrepaired %" PRIu64
			       " in %" PRIu64 " us\n",
			       g_pool->id, s, pg->acting[0], r->objects, r->bytes, r->errors,
			       r->repaired, r->unrepaired, r->duration_us);
			tot[0] += r->objects;
			tot[1] += r->bytes;
			tot[2] += r->errors;
			tot[3] += r->repaired;
			tot[4] += r->unrepaired;
			g_checks++;
			break;
		}
	}
	printf("scrub total: objects %" PRIu64 " bytes %" PRIu64 " errors %" PRIu64
	       " repaired %" PRIu64 " unrepaired %" PRIu64 "\n",
	       tot[0], tot[1], tot[2], tot[3], tot[4]);
}

/* ---- scenarios ----------------------------------------------------------------------- */

static void pipeline_test(uint64_t oid);

static void
garbage_test(void)
{
	uint8_t junk[256];
	char addr[128];
	uint32_t seed;
	const struct mon_pg *pg = pg_of(0, &seed);
	struct pollfd pfd;
	int fd;

	osd_addr(pg->acting[0], seed, addr, sizeof(addr));
	fd = tcp_connect(addr);
	if (fd < 0)
		fail("connect %s: %s", addr, rt_strerror(fd));
	pattern(junk, sizeof(junk), 77);
	if (write_all(fd, junk, sizeof(junk)) < 0)
		fail("writing garbage");
	pfd.fd = fd;
	pfd.events = POLLIN;
	/* The OSD must close the connection: wait for EOF/reset, bounded by 10 s. */
	if (poll(&pfd, 1, 10000) != 1)
		fail("the OSD did not close a connection that sent garbage");
	{
		char c;
		ssize_t n = read(fd, &c, 1);

		check(n <= 0, "garbage connection closed");
	}
	close(fd);
}

static void
scenario_run(uint64_t n, const char *state)
{
	struct op_res r, r2;
	uint64_t dup_oid = n + 1000, dup_req;
	uint8_t *buf = aligned_alloc(4096, 2 * OBJ_BYTES);
	FILE *f;

	if (!buf)
		fail("out of memory");
	/* 1. writes, reads from the primary and every member. */
	for (uint64_t i = 0; i < n; i++) {
		write_obj(i, 1000 + i, 0, &r);
		expect_status(&r, 0, "write");
		if (r.version == 0)
			fail("write of %" PRIu64 " returned no version", i);
		res_free(&r);
	}
	verify_all(n, 1000);
	printf("wrote and verified %" PRIu64 " objects on every replica\n", n);

	/* 2. duplicate detection: a resend with the same req id is not applied. */
	dup_req = ++g_req_id;
	write_obj(dup_oid, 1, dup_req, &r);
	expect_status(&r, 0, "dup first write");
	write_obj(dup_oid, 2, dup_req, &r2);
	expect_status(&r2, 0, "dup resend");
	if (r2.version != r.version)
		fail("resend got version %" PRIx64 ", original %" PRIx64, r2.version, r.version);
	read_check(dup_oid, 1, -1, "after resend");
	printf("resend of req %" PRIu64 " answered from the PG log (version %" PRIx64 ")\n",
	       dup_req, r.version);
	f = fopen(state, "w");
	if (!f)
		fail("%s: %s", state, strerror(errno));
	fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", g_client_id, dup_req,
		dup_oid, r.version);
	fclose(f);

	/* 3. compare-and-write. */
	{
		uint64_t oid = n + 2000;
		struct op_req q = { .op = TESSERA__OP_TYPE__OP_COMPARE_AND_WRITE, .oid = oid,
				    .off = 0, .len = OBJ_BYTES, .data = buf,
				    .data_len = 2 * OBJ_BYTES, .target = -1 };

		write_obj(oid, 5, 0, &r);
		expect_status(&r, 0, "caw setup");
		pattern(buf, OBJ_BYTES, 5);
		pattern(buf + OBJ_BYTES, OBJ_BYTES, 6);
		op_run(&q, &r);
		expect_status(&r, 0, "compare-and-write (match)");
		read_check(oid, 6, -1, "after compare-and-write");
		/* Compare against 5 again: differs; find the expected offset. */
		{
			uint8_t *cur = malloc(OBJ_BYTES);
			uint64_t off = 0;

			pattern(cur, OBJ_BYTES, 6);
			pattern(buf, OBJ_BYTES, 5);
			buf[0] = cur[0];
			buf[1] = cur[1];
			while (off < OBJ_BYTES && buf[off] == cur[off])
				off++;
			free(cur);
			op_run(&q, &r);
			expect_status(&r, TESSERA__STATUS__STATUS_EMISCOMPARE, "miscompare");
			if (r.miscompare != off)
				fail("miscompare offset %" PRIu64 ", expected %" PRIu64, r.miscompare,
				     off);
			read_check(oid, 6, -1, "after miscompare");
		}
		printf("compare-and-write: match, miscompare at the right offset\n");
	}

	/* 4. stat, discard, write-zeroes, delete. */
	{
		uint64_t oid = n + 3000;
		struct op_req st = { .op = TESSERA__OP_TYPE__OP_STAT, .oid = oid, .target = -1 };
		struct op_req dz = { .op = TESSERA__OP_TYPE__OP_DISCARD, .oid = oid, .off = 0,
				     .len = 4096, .target = -1 };
		struct op_req wz = { .op = TESSERA__OP_TYPE__OP_WRITE_ZEROES, .oid = oid,
				     .off = 4096, .len = 4096, .target = -1 };
		struct op_req rd = { .op = TESSERA__OP_TYPE__OP_READ, .oid = oid, .off = 0,
				     .len = OBJ_BYTES, .target = -1 };
		struct op_req del = { .op = TESSERA__OP_TYPE__OP_DELETE, .oid = oid, .target = -1 };
		struct op_req sy = { .op = TESSERA__OP_TYPE__OP_SYNC, .oid = oid, .target = -1 };
		uint8_t *want = malloc(OBJ_BYTES);

		write_obj(oid, 9, 0, &r);
		expect_status(&r, 0, "write for stat");
		op_run(&st, &r);
		expect_status(&r, 0, "stat");
		check(r.object_size == OBJ_BYTES, "stat reports the mapped bytes");
		op_run(&dz, &r);
		expect_status(&r, 0, "discard");
		op_run(&wz, &r);
		expect_status(&r, 0, "write-zeroes");
		op_run(&rd, &r);
		expect_status(&r, 0, "read after discard");
		pattern(want, OBJ_BYTES, 9);
		memset(want, 0, 8192);
		check(r.data_len == OBJ_BYTES && memcmp(r.data, want, OBJ_BYTES) == 0,
		      "discarded and zeroed ranges read as zeroes");
		res_free(&r);
		free(want);
		op_run(&sy, &r);
		expect_status(&r, 0, "sync");
		op_run(&del, &r);
		expect_status(&r, 0, "delete");
		op_run(&rd, &r);
		expect_status(&r, TESSERA__STATUS__STATUS_ENOENT, "read after delete");
		op_run(&del, &r);
		expect_status(&r, TESSERA__STATUS__STATUS_ENOENT, "delete of a deleted object");
		printf("stat, discard, write-zeroes, sync, delete OK\n");
	}

	/* 5. bad requests get clear errors. */
	{
		uint32_t seed;
		const struct mon_pg *pg = pg_of(0, &seed);
		struct op_req q = { .op = TESSERA__OP_TYPE__OP_READ, .oid = 0, .off = 0,
				    .len = 4096, .target = -1 };

		if (pg->n_acting > 1) {
			q.target = pg->acting[1];
			op_run(&q, &r);
			expect_status(&r, TESSERA__STATUS__STATUS_ENOTPRIMARY, "read from a replica");
			q.target = -1;
		}
		q.epoch_adj = -1;
		op_run(&q, &r);
		expect_status(&r, TESSERA__STATUS__STATUS_ESTALE_EPOCH, "stale epoch");
		check(r.epoch == g_map->epoch, "stale epoch reply carries the OSD's epoch");
		q.epoch_adj = 0;
		q.off = 100;
		op_run(&q, &r);
		expect_status(&r, TESSERA__STATUS__STATUS_EINVAL, "unaligned offset");
		q.off = 64ull << 20;
		op_run(&q, &r);
		expect_status(&r, TESSERA__STATUS__STATUS_ERANGE, "offset beyond the object");
		q.off = 0;
		q.seed_adj = (int64_t)g_map->osds[0].n_reactors * (int64_t)g_pool->pg_count;
		op_run(&q, &r);
		check(r.status != 0, "a PG that does not exist is refused");
		q.seed_adj = 0;
		{
			struct op_req w = { .op = TESSERA__OP_TYPE__OP_WRITE, .oid = 0, .off = 0,
					    .len = 8192, .data = buf, .data_len = 4096,
					    .target = -1 };

			op_run(&w, &r);
			expect_status(&r, TESSERA__STATUS__STATUS_EINVAL, "data shorter than length");
		}
		printf("error replies OK\n");
	}

	/* 6. pipelined, overlapping ops on one connection. */
	pipeline_test(n + 4000);
	pipeline_test(n + 4001);

	/* 7. garbage on an OSD port: that connection closes, the OSD serves on. */
	garbage_test();
	read_check(0, 1000, -1, "after garbage");
	printf("garbage connection closed; OSD still serving\n");
	free(buf);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* QD1 latency of 4 KiB writes (replicated) and reads over n ops on 64 objects. */
static void
bench(uint64_t n)
{
	uint8_t *buf = aligned_alloc(4096, 4096);
	uint64_t *lat = calloc(n, sizeof(*lat));
	struct op_res r;

	if (!buf || !lat || n == 0)
		fail("bench: bad arguments or out of memory");
	pattern(buf, 4096, 1);
	for (int kind = 0; kind < 2; kind++) {
		uint64_t t0 = now_us();

		for (uint64_t i = 0; i < n; i++) {
			struct op_req q = { .op = kind ? TESSERA__OP_TYPE__OP_READ
						       : TESSERA__OP_TYPE__OP_WRITE,
					    .oid = 50000 + i % 64, .off = (i / 64 % 16) * 4096,
					    .len = 4096, .data = kind ? NULL : buf,
					    .data_len = kind ? 0 : 4096, .target = -1 };
			uint64_t s = now_us();

			op_run(&q, &r);
			lat[i] = now_us() - s;
			expect_status(&r, 0, kind ? "bench read" : "bench write");
			res_free(&r);
		}
		{
			uint64_t total = now_us() - t0;

			qsort(lat, n, sizeof(*lat), cmp_u64);
			printf("%s 4k qd1: %" PRIu64 " ops, %.0f IOPS, p50 %" PRIu64 " us, p99 %" PRIu64
			       " us, max %" PRIu64 " us\n",
			       kind ? "read " : "write", n, (double)n * 1e6 / (double)total,
			       lat[n / 2], lat[n * 99 / 100], lat[n - 1]);
		}
	}
	free(buf);
	free(lat);
}

/*
 * Pipelined ops on one object over one connection: overlapping writes and
 * reads sent without waiting. The OSD must apply conflicting ops in arrival
 * order: every read sees exactly the writes sent before it, and the final
 * contents (on the primary and on every replica) are the writes applied in
 * send order.
 */
#define PIPE_OPS 24
#define PIPE_SPAN (4 * 4096)

static void
pipeline_test(uint64_t oid)
{
	static uint8_t model[PIPE_SPAN], snap[PIPE_OPS][PIPE_SPAN], data[PIPE_OPS][8192];
	bool is_read[PIPE_OPS];
	uint64_t off[PIPE_OPS], ver[PIPE_OPS];
	bool got[PIPE_OPS] = { false };
	char addr[128];
	uint32_t seed;
	const struct mon_pg *pg = pg_of(oid, &seed);
	struct op_res r;
	int fd;

	/* Start from a known state (and a current map). */
	{
		struct op_req z = { .op = TESSERA__OP_TYPE__OP_WRITE_ZEROES, .oid = oid, .off = 0,
				    .len = PIPE_SPAN, .target = -1 };

		op_run(&z, &r);
		expect_status(&r, 0, "pipeline setup");
		pg = pg_of(oid, &seed);
	}
	memset(model, 0, sizeof(model));
	osd_addr(pg->acting[0], seed, addr, sizeof(addr));
	fd = tcp_connect(addr);
	if (fd < 0)
		fail("connect %s: %s", addr, rt_strerror(fd));
	for (int i = 0; i < PIPE_OPS; i++) {
		Tessera__ClientOp m = TESSERA__CLIENT_OP__INIT;
		Tessera__ObjectId o = TESSERA__OBJECT_ID__INIT;
		Tessera__PgId p = TESSERA__PG_ID__INIT;

		is_read[i] = i % 5 == 4;
		off[i] = (uint64_t)(i % 3) * 4096;
		o.pool = g_pool->id;
		o.id = oid;
		p.pool = g_pool->id;
		p.seed = seed;
		m.client_id = g_client_id;
		m.req_id = ++g_req_id;
		m.epoch = g_map->epoch;
		m.oid = &o;
		m.pg = &p;
		m.offset = is_read[i] ? 0 : off[i];
		m.length = is_read[i] ? PIPE_SPAN : 8192;
		m.op = is_read[i] ? TESSERA__OP_TYPE__OP_READ : TESSERA__OP_TYPE__OP_WRITE;
		if (is_read[i]) {
			memcpy(snap[i], model, PIPE_SPAN);
		} else {
			pattern(data[i], 8192, 7000 + (uint64_t)i);
			memcpy(model + off[i], data[i], 8192);
		}
		if (send_frame(fd, FRAME_T_CLIENT_OP, (uint64_t)i + 1, &m.base,
			       is_read[i] ? NULL : data[i], is_read[i] ? 0 : 8192) < 0)
			fail("pipeline: send %d", i);
	}
	for (int n = 0; n < PIPE_OPS; n++) {
		struct frame_hdr hdr;
		ProtobufCMessage *msg;
		const Tessera__ClientOpReply *rep;
		void *d = NULL;
		int i;

		if (recv_frame(fd, &hdr, &msg, &d) < 0 || hdr.type != FRAME_T_CLIENT_OP_REPLY ||
		    hdr.tag == 0 || hdr.tag > PIPE_OPS || got[hdr.tag - 1])
			fail("pipeline: bad reply %d", n);
		i = (int)hdr.tag - 1;
		got[i] = true;
		rep = (const Tessera__ClientOpReply *)msg;
		if (rep->status != 0)
			fail("pipeline: op %d status %d", i, rep->status);
		ver[i] = rep->version ? (rep->version->epoch << 32 | rep->version->seq) : 0;
		if (is_read[i] && (hdr.data_len != PIPE_SPAN || memcmp(d, snap[i], PIPE_SPAN)))
			fail("pipeline: read %d did not see exactly the writes sent before it", i);
		free(d);
		g_checks++;
	}
	close(fd);
	/* Overlapping writes got increasing versions in send order. */
	for (int i = 0; i < PIPE_OPS; i++)
		for (int j = i + 1; j < PIPE_OPS; j++)
			if (!is_read[i] && !is_read[j] && off[i] < off[j] + 8192 &&
			    off[j] < off[i] + 8192 && ver[i] >= ver[j])
				fail("pipeline: writes %d and %d overlap but versions are not ordered", i,
				     j);
	/* Final contents on the primary and every replica. */
	for (uint32_t k = 0; k <= pg->n_acting; k++) {
		struct op_req q = { .op = TESSERA__OP_TYPE__OP_READ, .oid = oid, .off = 0,
				    .len = PIPE_SPAN, .target = k ? (int64_t)pg->acting[k - 1] : -1,
				    .flags = k ? OSD_OPF_LOCAL_READ : 0 };

		op_run(&q, &r);
		expect_status(&r, 0, "pipeline final read");
		if (r.data_len != PIPE_SPAN || memcmp(r.data, model, PIPE_SPAN))
			fail("pipeline: final contents differ on %s%d", k ? "osd." : "primary",
			     k ? (int)pg->acting[k - 1] : 0);
		res_free(&r);
	}
	printf("pipelined overlapping ops applied in arrival order on every replica\n");
}

static void
scenario_resend(const char *state)
{
	uint64_t cid, req, oid, ver;
	struct op_res r;
	FILE *f = fopen(state, "r");

	if (!f || fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &cid, &req, &oid,
			 &ver) != 4)
		fail("%s: cannot read the saved state", state);
	fclose(f);
	g_client_id = cid;
	write_obj(oid, 3, req, &r);
	expect_status(&r, 0, "resend after restart");
	if (r.version != ver)
		fail("resend after restart got version %" PRIx64 ", original %" PRIx64, r.version,
		     ver);
	read_check(oid, 1, -1, "after resend (restart)");
	printf("resend after restart answered from the persisted PG log\n");
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "", *pool = "rbd", *state = NULL;
	uint64_t n = 16, one_oid = 0, base = 1000, block = 1;
	const char *device = NULL;
	int expect = 0, no_repair = 0;
	int64_t only_pg = -1;

	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--mon"))
			g_mon = argv[i + 1];
		else if (!strcmp(argv[i], "--pool"))
			pool = argv[i + 1];
		else if (!strcmp(argv[i], "--objects"))
			n = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--base"))
			base = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--wait"))
			g_retry_replicas = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--oid"))
			one_oid = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--expect"))
			expect = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--state"))
			state = argv[i + 1];
		else if (!strcmp(argv[i], "--tagged"))
			g_tagged = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--device"))
			device = argv[i + 1];
		else if (!strcmp(argv[i], "--block"))
			block = strtoull(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--pg"))
			only_pg = strtoll(argv[i + 1], NULL, 0);
		else if (!strcmp(argv[i], "--no-repair"))
			no_repair = atoi(argv[i + 1]);
		else
			fail("unknown option %s", argv[i]);
	}
	if (!strcmp(cmd, "corrupt"))
		return corrupt_file(device, one_oid, block);
	if (!strcmp(cmd, "--help") || !g_mon || !*cmd) {
		printf("usage: tessera-osd-testcli run|resend|verify|members|scrub|corrupt|write-one|oid-in-pg|bench|rewrite|delete-one|absent|hang-write|resend-hung|check-one|read-one|load|verify-load --mon ADDR [--pool NAME] "
		       "[--objects N] [--state FILE]\n");
		return !strcmp(cmd, "--help") ? 0 : 2;
	}
	signal(SIGPIPE, SIG_IGN); /* a dead OSD is an error to handle, not a fatal signal */
	if (rt_arena_init(&g_arena, 1u << 20) < 0)
		fail("out of memory");
	g_client_id = ((uint64_t)getpid() << 20) ^ (uint64_t)time(NULL);
	g_req_id = (uint64_t)time(NULL) << 16;
	map_fetch(pool);
	if (!strcmp(cmd, "run")) {
		if (!state)
			fail("run needs --state FILE");
		scenario_run(n, state);
	} else if (!strcmp(cmd, "resend")) {
		if (!state)
			fail("resend needs --state FILE");
		scenario_resend(state);
	} else if (!strcmp(cmd, "write-one")) {
		struct op_res r;

		write_obj(one_oid, base == 1000 ? 4242 : base, 0, &r);
		printf("write of %" PRIu64 ": status %d\n", one_oid, r.status);
		expect_status(&r, expect, "write-one");
		if (expect == 0)
			read_check(one_oid, base == 1000 ? 4242 : base, -1, "write-one");
	} else if (!strcmp(cmd, "bench")) {
		bench(n);
	} else if (!strcmp(cmd, "hang-write")) {
		/* A write to an object whose primary is OSD --oid (holding its RepOps):
		 * it must not be answered. Saves "client req oid" to --state. */
		static uint8_t buf[OBJ_BYTES];
		Tessera__ClientOp m = TESSERA__CLIENT_OP__INIT;
		Tessera__ObjectId o = TESSERA__OBJECT_ID__INIT;
		Tessera__PgId p = TESSERA__PG_ID__INIT;
		const struct mon_pg *pg = NULL;
		struct pollfd pfd;
		uint64_t oid;
		uint32_t seed = 0;
		char addr[128];
		FILE *f;
		int fd;

		for (oid = 20000; oid < 30000; oid++) {
			pg = pg_of(oid, &seed);
			if (pg->n_acting && pg->acting[0] == one_oid)
				break;
		}
		if (oid == 30000 || !state)
			fail("hang-write: no object with primary osd.%" PRIu64 " (or no --state)",
			     one_oid);
		osd_addr(pg->acting[0], seed, addr, sizeof(addr));
		fd = tcp_connect(addr);
		if (fd < 0)
			fail("connect %s: %s", addr, rt_strerror(fd));
		pattern(buf, sizeof(buf), 777);
		o.pool = g_pool->id;
		o.id = oid;
		p.pool = g_pool->id;
		p.seed = seed;
		m.client_id = g_client_id;
		m.req_id = ++g_req_id;
		m.epoch = g_map->epoch;
		m.op = TESSERA__OP_TYPE__OP_WRITE;
		m.oid = &o;
		m.pg = &p;
		m.length = OBJ_BYTES;
		if (send_frame(fd, FRAME_T_CLIENT_OP, 1, &m.base, buf, OBJ_BYTES) < 0)
			fail("hang-write: send");
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 2000) != 0)
			fail("hang-write: the held write was answered (or the connection closed)");
		f = fopen(state, "w");
		if (!f)
			fail("%s: %s", state, strerror(errno));
		fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", g_client_id, m.req_id, oid);
		fclose(f);
		close(fd);
		printf("write of %" PRIu64 " (req %" PRIu64 ") held by osd.%" PRIu64 "\n", oid,
		       m.req_id, one_oid);
	} else if (!strcmp(cmd, "resend-hung")) {
		uint64_t cid, req, oid;
		struct op_res r;
		uint32_t seed;
		const struct mon_pg *pg;
		FILE *f = state ? fopen(state, "r") : NULL;

		if (!f || fscanf(f, "%" SCNu64 " %" SCNu64 " %" SCNu64, &cid, &req, &oid) != 3)
			fail("resend-hung: cannot read --state");
		fclose(f);
		g_client_id = cid;
		write_obj(oid, 777, req, &r);
		expect_status(&r, 0, "resend of the held write");
		pg = pg_of(oid, &seed);
		read_check(oid, 777, -1, "resent write");
		for (uint32_t k = 0; k < pg->n_acting; k++)
			read_check(oid, 777, pg->acting[k], "resent write on a member");
		printf("the resend of the unacknowledged write was applied everywhere\n");
	} else if (!strcmp(cmd, "read-one")) {
		/* Read object --oid from its primary: status --expect, and with
		 * --expect 0 the data must be pattern --base. */
		static uint8_t want[OBJ_BYTES];
		struct op_req q = { .op = TESSERA__OP_TYPE__OP_READ, .oid = one_oid, .off = 0,
				    .len = OBJ_BYTES, .target = -1 };
		struct op_res r;

		op_run(&q, &r);
		printf("read of %" PRIu64 ": status %d\n", one_oid, r.status);
		expect_status(&r, expect, "read-one");
		if (expect == 0) {
			pattern(want, sizeof(want), base);
			tag_blocks(want, sizeof(want), one_oid);
			if (r.data_len != OBJ_BYTES || memcmp(r.data, want, OBJ_BYTES) != 0)
				fail("read-one: object %" PRIu64 " does not hold pattern %" PRIu64,
				     one_oid, base);
		}
		res_free(&r);
	} else if (!strcmp(cmd, "check-one")) {
		uint32_t seed;
		const struct mon_pg *pg = pg_of(one_oid, &seed);

		read_check(one_oid, base, -1, "check-one");
		for (uint32_t k = 0; k < pg->n_acting; k++)
			read_check(one_oid, base, pg->acting[k], "check-one on a member");
		printf("object %" PRIu64 " has pattern %" PRIu64 " on every member\n", one_oid, base);
	} else if (!strcmp(cmd, "load")) {
		/*
		 * A write load over N objects (--objects), --oid writes in all, each
		 * resent with the same request id until it is acknowledged (an OSD may
		 * die under it). Progress goes to --state (one line per 50 acks) so the
		 * script knows when to strike; at the end the last acknowledged pattern
		 * of every object (100000 and up), for verify-load.
		 */
		uint64_t *last = calloc(n, sizeof(*last));
		uint64_t total = one_oid ? one_oid : 400, resends = 0;
		FILE *f = state ? fopen(state, "w") : NULL;

		if (!last || !f || n == 0)
			fail("load: needs --objects N and --state FILE");
		for (uint64_t i = 0; i < total; i++) {
			uint64_t oid = 100000 + i % n, pat = base + i, req = ++g_req_id;
			struct op_res r;
			int tries = 0;

			for (;;) {
				write_obj(oid, pat, req, &r);
				if (r.status == 0)
					break;
				res_free(&r);
				if (++tries > 300)
					fail("load: write %" PRIu64 " never acknowledged (status %d)", i,
					     r.status);
				resends++;
				struct timespec ts = { 0, 100 * 1000000 };

				nanosleep(&ts, NULL);
				map_fetch(g_pool_name);
			}
			last[i % n] = pat;
			if (i % 50 == 49) {
				fprintf(f, "P %" PRIu64 "\n", i + 1);
				fflush(f);
			}
		}
		for (uint64_t j = 0; j < n; j++)
			fprintf(f, "O %" PRIu64 " %" PRIu64 "\n", 100000 + j, last[j]);
		fclose(f);
		printf("load: %" PRIu64 " writes acknowledged (%" PRIu64 " resends)\n", total,
		       resends);
		free(last);
	} else if (!strcmp(cmd, "verify-load")) {
		/* Every object of a finished load holds its last acknowledged write. */
		char kind;
		uint64_t oid, pat, count = 0;
		FILE *f = state ? fopen(state, "r") : NULL;

		if (!f)
			fail("verify-load: needs --state FILE");
		while (fscanf(f, " %c %" SCNu64, &kind, &oid) == 2) {
			uint32_t seed;
			const struct mon_pg *pg;

			if (kind != 'O')
				continue;
			if (fscanf(f, "%" SCNu64, &pat) != 1)
				fail("verify-load: malformed state");
			pg = pg_of(oid, &seed);
			read_check(oid, pat, -1, "load: last acknowledged write");
			for (uint32_t k = 0; k < pg->n_acting; k++)
				read_check(oid, pat, pg->acting[k], "load: on a member");
			count++;
		}
		fclose(f);
		if (count == 0)
			fail("verify-load: no objects in the state file");
		printf("verify-load: %" PRIu64 " objects hold their last acknowledged write on every "
		       "member\n", count);
	} else if (!strcmp(cmd, "rewrite")) {
		struct op_res r;

		for (uint64_t i = 0; i < n; i++) {
			write_obj(i, base + i, 0, &r);
			expect_status(&r, 0, "rewrite");
		}
		printf("rewrote %" PRIu64 " objects with pattern base %" PRIu64 "\n", n, base);
	} else if (!strcmp(cmd, "delete-one")) {
		struct op_req q = { .op = TESSERA__OP_TYPE__OP_DELETE, .oid = one_oid, .target = -1 };
		struct op_res r;

		op_run(&q, &r);
		expect_status(&r, expect, "delete-one");
	} else if (!strcmp(cmd, "absent")) {
		/* Object one_oid must be gone on the primary and every member. */
		uint32_t seed;
		const struct mon_pg *pg = pg_of(one_oid, &seed);

		for (uint32_t k = 0; k <= pg->n_acting; k++) {
			struct op_req q = { .op = TESSERA__OP_TYPE__OP_STAT, .oid = one_oid,
					    .target = k ? (int64_t)pg->acting[k - 1] : -1,
					    .flags = k ? OSD_OPF_LOCAL_READ : 0 };
			struct op_res r;
			int tries = 0;

			do {
				op_run(&q, &r);
				if (r.status == TESSERA__STATUS__STATUS_ENOENT)
					break;
				struct timespec ts = { 0, 100 * 1000000 };

				nanosleep(&ts, NULL);
			} while (++tries < g_retry_replicas);
			expect_status(&r, TESSERA__STATUS__STATUS_ENOENT, "deleted object is absent");
		}
		printf("object %" PRIu64 " absent on every member\n", one_oid);
	} else if (!strcmp(cmd, "oid-in-pg")) {
		/* The first object id >= --oid of PG --pg (a seed): printed alone. */
		uint32_t seed = 0;

		if (only_pg < 0)
			fail("oid-in-pg needs --pg");
		for (uint64_t k = 0; k < 1000000; k++) {
			pg_of(one_oid + k, &seed);
			if (seed == (uint32_t)only_pg) {
				printf("%" PRIu64 "\n", one_oid + k);
				return 0;
			}
		}
		fail("no object of PG %lld found", (long long)only_pg);
	} else if (!strcmp(cmd, "members")) {
		uint32_t seed;
		const struct mon_pg *pg = pg_of(one_oid, &seed);

		for (uint32_t k = 0; k < pg->n_acting; k++)
			printf("%s%u", k ? " " : "", pg->acting[k]);
		printf("\n");
		return 0;
	} else if (!strcmp(cmd, "scrub")) {
		scrub_pgs(only_pg, no_repair);
	} else if (!strcmp(cmd, "verify")) {
		verify_all(n, base);
		printf("verified %" PRIu64 " objects on every replica\n", n);
	} else {
		fail("unknown command %s", cmd);
	}
	printf("%d checks passed\n", g_checks);
	mon_map_destroy(&g_map);
	for (size_t i = 0; i < g_n_old; i++)
		mon_map_destroy(&g_old_maps[i]);
	rt_arena_fini(&g_arena);
	return 0;
}
