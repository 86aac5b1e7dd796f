/*
 * tessera-vhost-bench: a userspace vhost-user-blk frontend that drives
 * tessera-vhost (or any vhost-user-blk backend) without a guest, to measure
 * the backend itself: IOPS, bandwidth, latency percentiles and CPU time per
 * I/O of this driver and, with --backend-pid, of the backend process.
 *
 * It plays QEMU's part: negotiates features, shares a memfd as "guest
 * memory" (guest-physical address = offset in the memfd), lays out one split
 * ring per queue in it, and runs one thread per queue that keeps --iodepth
 * requests (header, data, status descriptors) in flight, kicking through
 * the kick eventfd unless the backend suppresses kicks, and reaping the used
 * ring by polling it (--poll) or by sleeping on the call eventfd. At the end
 * each ring is stopped with GET_VRING_BASE, as QEMU does.
 *
 * Writes carry the byte 0x5a; a read clears the first and last byte of its
 * buffer before it is submitted and counts an "unwritten" read if they do
 * not come back as 0x5a, so a benchmark can show that its reads found data
 * (and not holes or unallocated objects, which are cheaper). --fill writes
 * the working set once, sequentially, and stops (the prefill before reads).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rt_conf.h"
#include "vhost_blk.h"
#include "vhost_user.h"

struct vb_conf {
	const char *socket;
	int rw;
	uint64_t bs;
	int64_t iodepth;
	int64_t queues;
	uint64_t runtime_us;
	uint64_t size;
	bool poll;
	int64_t backend_pid;
	bool json;
	bool fill;
};

static const char *const rw_choices[] = { "randread", "randwrite", "read", "write", NULL };
enum { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE };

#define OPT(f) offsetof(struct vb_conf, f)
static const struct rt_conf_opt vb_opts[] = {
	{ "socket", 's', RT_CONF_STR, OPT(socket), NULL, 0, 0, false,
	  "the backend's vhost-user socket", NULL, "PATH" },
	{ "rw", 0, RT_CONF_ENUM, OPT(rw), "randread", 0, 0, false, "I/O pattern", rw_choices,
	  NULL },
	{ "bs", 'b', RT_CONF_SIZE, OPT(bs), "4K", 4096, 1 << 20, false,
	  "I/O size (a 4 KiB multiple)", NULL, NULL },
	{ "iodepth", 'q', RT_CONF_INT, OPT(iodepth), "1", 1, 64, false,
	  "requests in flight per queue", NULL, "N" },
	{ "queues", 'j', RT_CONF_INT, OPT(queues), "1", 1, 16, false,
	  "virtqueues, each driven by its own thread", NULL, "N" },
	{ "runtime", 't', RT_CONF_DURATION, OPT(runtime_us), "5s", 1000, 3600000000, false,
	  "measured time", NULL, NULL },
	{ "size", 0, RT_CONF_SIZE, OPT(size), "0", 0, 0, false,
	  "working set from offset 0 (0: the whole disk)", NULL, NULL },
	{ "poll", 0, RT_CONF_BOOL, OPT(poll), "false", 0, 0, false,
	  "busy-poll the used ring instead of sleeping on the call eventfd", NULL, NULL },
	{ "backend-pid", 0, RT_CONF_INT, OPT(backend_pid), "0", 0, INT32_MAX, false,
	  "also report this process's CPU time per I/O (the backend)", NULL, "PID" },
	{ "json", 0, RT_CONF_BOOL, OPT(json), "false", 0, 0, false, "print JSON", NULL, NULL },
	{ "fill", 0, RT_CONF_BOOL, OPT(fill), "false", 0, 0, false,
	  "write the working set (--size) once sequentially and stop; --runtime is then a "
	  "time limit", NULL, NULL },
};

static const struct rt_conf_table vb_table = {
	.prog = "tessera-vhost-bench",
	.synopsis = "--socket PATH [OPTIONS]",
	.description = "A userspace vhost-user-blk frontend that benchmarks a backend "
		       "(tessera-vhost) without a guest: IOPS, bandwidth, latency "
		       "percentiles, CPU time per I/O.",
	.opts = vb_opts,
	.n_opts = sizeof(vb_opts) / sizeof(vb_opts[0]),
};

#define RING_NUM 256u
#define RING_AREA (64u << 10)
#define HIST_US 200000u

struct vb_queue {
	unsigned idx;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t ring_gpa;
	uint8_t *data;
	uint64_t data_gpa;
	uint8_t *hdrs;          /* per slot: header (16) + status (1), 32 bytes */
	uint64_t hdrs_gpa;
	int kick_fd, call_fd;
	pthread_t thread;
	uint64_t t_submit[RING_NUM];
	uint16_t last_used;
	uint64_t ops, bytes, errors, kicks, unwritten;
	uint64_t fill_left;     /* --fill: requests still to submit */
	volatile int done;
	uint32_t *hist;         /* latency in µs */
	uint64_t seq_off;
	uint64_t rnd;
};

static struct vb_conf conf;
static int sock;
static uint8_t *mem;
static uint64_t mem_size, disk_size;
static volatile int stop_flag;

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
msg_call(uint32_t req, void *payload, uint32_t len, int fd, void *reply, uint32_t reply_len)
{
	struct vhost_user_hdr h;
	int rc = vhost_msg_send(sock, req, VHOST_USER_VERSION, payload, len, fd);

	if (rc < 0 || !reply)
		return rc;
	if (recv(sock, &h, sizeof(h), MSG_WAITALL) != (ssize_t)sizeof(h))
		return -EIO;
	if (h.request != req || h.size > reply_len)
		return -EBADMSG;
	if (h.size && recv(sock, reply, h.size, MSG_WAITALL) != (ssize_t)h.size)
		return -EIO;
	return (int)h.size;
}

static int
setup_queue(struct vb_queue *q, uint64_t gpa)
{
	struct vhost_user_vring_state st;
	struct vhost_user_vring_addr a;
	uint64_t u;
	unsigned qd = (unsigned)conf.iodepth;

	q->ring_gpa = gpa;
	q->desc = (struct vring_desc *)(mem + gpa);
	q->avail = (struct vring_avail *)(mem + gpa + 0x1000);
	q->used = (struct vring_used *)(mem + gpa + 0x2000);
	q->hdrs_gpa = gpa + 0x4000;
	q->hdrs = mem + q->hdrs_gpa;
	q->data_gpa = gpa + RING_AREA;
	q->data = mem + q->data_gpa;
	q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	q->hist = calloc(HIST_US + 1, sizeof(uint32_t));
	q->rnd = 0x9e3779b97f4a7c15ull * (q->idx + 1);
	if (q->kick_fd < 0 || q->call_fd < 0 || !q->hist)
		return -ENOMEM;
	/* Writes carry a recognisable non-zero pattern. */
	memset(q->data, 0x5a, (size_t)qd * conf.bs);
	for (unsigned s = 0; s < qd; s++) {
		unsigned d = s * 3;
		q->desc[d] = (struct vring_desc){ q->hdrs_gpa + s * 32, 16, VRING_DESC_F_NEXT,
						  (uint16_t)(d + 1) };
		q->desc[d + 1] = (struct vring_desc){ q->data_gpa + s * conf.bs, (uint32_t)conf.bs,
						      VRING_DESC_F_NEXT, (uint16_t)(d + 2) };
		q->desc[d + 2] = (struct vring_desc){ q->hdrs_gpa + s * 32 + 16, 1,
						      VRING_DESC_F_WRITE, 0 };
	}
	q->avail->flags = conf.poll ? VRING_AVAIL_F_NO_INTERRUPT : 0;
	st = (struct vhost_user_vring_state){ q->idx, RING_NUM };
	if (msg_call(VHOST_USER_SET_VRING_NUM, &st, sizeof(st), -1, NULL, 0) < 0)
		return -EIO;
	st.num = 0;
	if (msg_call(VHOST_USER_SET_VRING_BASE, &st, sizeof(st), -1, NULL, 0) < 0)
		return -EIO;
	a = (struct vhost_user_vring_addr){ .index = q->idx,
					    .desc_user_addr = (uintptr_t)q->desc,
					    .used_user_addr = (uintptr_t)q->used,
					    .avail_user_addr = (uintptr_t)q->avail };
	if (msg_call(VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), -1, NULL, 0) < 0)
		return -EIO;
	u = q->idx;
	if (msg_call(VHOST_USER_SET_VRING_CALL, &u, sizeof(u), q->call_fd, NULL, 0) < 0 ||
	    msg_call(VHOST_USER_SET_VRING_KICK, &u, sizeof(u), q->kick_fd, NULL, 0) < 0)
		return -EIO;
	st = (struct vhost_user_vring_state){ q->idx, 1 };
	return msg_call(VHOST_USER_SET_VRING_ENABLE, &st, sizeof(st), -1, NULL, 0);
}

static uint64_t
next_offset(struct vb_queue *q)
{
	uint64_t span = (conf.size ? conf.size : disk_size) / (uint64_t)conf.queues;
	uint64_t base = span * q->idx, blocks = span / conf.bs;

	if (conf.rw == RW_READ || conf.rw == RW_WRITE) {
		uint64_t o = q->seq_off;
		q->seq_off = (q->seq_off + conf.bs) % (blocks * conf.bs);
		return base + o;
	}
	q->rnd ^= q->rnd << 13;
	q->rnd ^= q->rnd >> 7;
	q->rnd ^= q->rnd << 17;
	return base + (q->rnd % blocks) * conf.bs;
}

static void
submit(struct vb_queue *q, unsigned slot)
{
	struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(q->hdrs + slot * 32);
	bool write = conf.rw == RW_RANDWRITE || conf.rw == RW_WRITE;
	uint16_t ai = q->avail->idx;

	h->type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	h->ioprio = 0;
	h->sector = next_offset(q) / VIRTIO_BLK_SECTOR;
	q->desc[slot * 3 + 1].flags = VRING_DESC_F_NEXT | (write ? 0 : VRING_DESC_F_WRITE);
	q->hdrs[slot * 32 + 16] = 0xff;
	if (!write) {
		q->data[(uint64_t)slot * conf.bs] = 0;
		q->data[(uint64_t)slot * conf.bs + conf.bs - 1] = 0;
	}
	q->t_submit[slot] = now_ns();
	q->avail->ring[ai % RING_NUM] = (uint16_t)(slot * 3);
	__atomic_store_n(&q->avail->idx, (uint16_t)(ai + 1), __ATOMIC_RELEASE);
}

static void
kick(struct vb_queue *q)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&q->used->flags, __ATOMIC_ACQUIRE) & VRING_USED_F_NO_NOTIFY)
		return;
	if (write(q->kick_fd, &one, sizeof(one)) == sizeof(one))
		q->kicks++;
}

static void *
queue_thread(void *arg)
{
	struct vb_queue *q = arg;
	unsigned qd = (unsigned)conf.iodepth, inflight = 0;

	if (conf.fill && q->fill_left < qd)
		qd = (unsigned)q->fill_left;
	for (unsigned s = 0; s < qd; s++)
		submit(q, s);
	inflight = qd;
	if (conf.fill)
		q->fill_left -= qd;
	kick(q);
	while (inflight) {
		uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
		unsigned resubmitted = 0;
		if (used == q->last_used) {
			if (!conf.poll) {
				struct pollfd p = { q->call_fd, POLLIN, 0 };
				uint64_t v;
				if (poll(&p, 1, 100) > 0 && read(q->call_fd, &v, sizeof(v)) < 0)
					perror("call fd");
			}
			continue;
		}
		uint64_t t = now_ns();
		while (q->last_used != used) {
			struct vring_used_elem e = q->used->ring[q->last_used % RING_NUM];
			unsigned slot = e.id / 3;
			q->last_used++;
			if (slot >= qd) {
				q->errors++;
				continue;
			}
			uint64_t lat_us = (t - q->t_submit[slot]) / 1000;
			q->hist[lat_us < HIST_US ? lat_us : HIST_US]++;
			if (q->hdrs[slot * 32 + 16] != VIRTIO_BLK_S_OK)
				q->errors++;
			else if (!(q->desc[slot * 3 + 1].flags & VRING_DESC_F_WRITE))
				;
			else if (q->data[(uint64_t)slot * conf.bs] != 0x5a ||
				 q->data[(uint64_t)slot * conf.bs + conf.bs - 1] != 0x5a)
				q->unwritten++;
			q->ops++;
			q->bytes += conf.bs;
			if (stop_flag || (conf.fill && !q->fill_left)) {
				inflight--;
			} else {
				if (conf.fill)
					q->fill_left--;
				submit(q, slot);
				resubmitted++;
			}
		}
		if (resubmitted)
			kick(q);
	}
	q->done = 1;
	return NULL;
}

static uint64_t
proc_cpu_us(long pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	char *p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return 0;
	return (uint64_t)(ut + st) * 1000000u / (uint64_t)sysconf(_SC_CLK_TCK);
}

static uint64_t
self_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t
percentile(const uint64_t *h, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p * (double)total), acc = 0;

	for (unsigned i = 0; i <= HIST_US; i++) {
		acc += h[i];
		if (acc > want)
			return i;
	}
	return HIST_US;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vhost_user_mem_table mt;
	struct vhost_user_config cfg;
	struct vb_queue *qs;
	uint64_t u, feat, pfeat, t0, t1, cpu0, cpu1, bcpu0 = 0, bcpu1 = 0;
	int rc, first, memfd;

	rc = rt_conf_parse(&vb_table, &conf, argc, argv, &first);
	if (rc == 1)
		return 0;
	if (rc < 0)
		return 2;
	if (conf.fill)
		conf.rw = RW_WRITE;
	if (first < argc || !conf.socket || conf.bs % 4096) {
		fprintf(stderr, "tessera-vhost-bench: give --socket PATH (and a 4 KiB multiple "
			"--bs); see --help\n");
		return 2;
	}
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", conf.socket);
	if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(conf.socket);
		return 2;
	}
	if (msg_call(VHOST_USER_GET_FEATURES, NULL, 0, -1, &feat, sizeof(feat)) < 0)
		goto proto_err;
	feat &= (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
		(1ull << VIRTIO_BLK_F_BLK_SIZE) | (1ull << VIRTIO_BLK_F_FLUSH) |
		(1ull << VIRTIO_BLK_F_MQ) | (1ull << VIRTIO_BLK_F_SEG_MAX);
	if (msg_call(VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, -1, &pfeat, sizeof(pfeat)) < 0)
		goto proto_err;
	pfeat &= (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG);
	if (msg_call(VHOST_USER_SET_PROTOCOL_FEATURES, &pfeat, sizeof(pfeat), -1, NULL, 0) < 0 ||
	    msg_call(VHOST_USER_GET_QUEUE_NUM, NULL, 0, -1, &u, sizeof(u)) < 0)
		goto proto_err;
	if ((uint64_t)conf.queues > u) {
		fprintf(stderr, "tessera-vhost-bench: the backend offers %" PRIu64 " queues\n", u);
		return 2;
	}
	if (msg_call(VHOST_USER_SET_OWNER, NULL, 0, -1, NULL, 0) < 0 ||
	    msg_call(VHOST_USER_SET_FEATURES, &feat, sizeof(feat), -1, NULL, 0) < 0)
		goto proto_err;
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(struct virtio_blk_config);
	if (msg_call(VHOST_USER_GET_CONFIG, &cfg, VHOST_USER_CONFIG_HDR_SIZE + cfg.size, -1, &cfg,
		     sizeof(cfg)) < 0)
		goto proto_err;
	disk_size = ((struct virtio_blk_config *)cfg.region)->capacity * VIRTIO_BLK_SECTOR;
	if (conf.size > disk_size || disk_size / (uint64_t)conf.queues < conf.bs) {
		fprintf(stderr, "tessera-vhost-bench: the disk has %" PRIu64 " bytes\n", disk_size);
		return 2;
	}

	/* Guest memory: per queue a ring area and iodepth data buffers. */
	uint64_t per_q = RING_AREA + (((uint64_t)conf.iodepth * conf.bs + 0xfffff) & ~0xfffffull);
	mem_size = per_q * (uint64_t)conf.queues;
	memfd = memfd_create("vhost-bench", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)mem_size) < 0) {
		perror("memfd");
		return 2;
	}
	mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	mt.regions[0] = (struct vhost_user_mem_region){ 0, mem_size, (uintptr_t)mem, 0 };
	if (msg_call(VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), memfd, NULL, 0) < 0)
		goto proto_err;
	qs = calloc((size_t)conf.queues, sizeof(*qs));
	if (!qs)
		return 2;
	for (int i = 0; i < conf.queues; i++) {
		qs[i].idx = (unsigned)i;
		qs[i].fill_left = (conf.size ? conf.size : disk_size) / (uint64_t)conf.queues /
				  conf.bs;
		if (setup_queue(&qs[i], per_q * (uint64_t)i) < 0)
			goto proto_err;
	}

	t0 = now_ns();
	cpu0 = self_cpu_us();
	if (conf.backend_pid)
		bcpu0 = proc_cpu_us((long)conf.backend_pid);
	for (int i = 0; i < conf.queues; i++)
		pthread_create(&qs[i].thread, NULL, queue_thread, &qs[i]);
	/* The run time, or (--fill) until every queue wrote its span. */
	for (;;) {
		int all_done = 1;
		for (int i = 0; i < conf.queues; i++)
			all_done &= qs[i].done;
		if (all_done || now_ns() - t0 >= conf.runtime_us * 1000u)
			break;
		usleep(conf.fill ? 2000 : 20000);
	}
	stop_flag = 1;
	for (int i = 0; i < conf.queues; i++)
		pthread_join(qs[i].thread, NULL);
	t1 = now_ns();
	cpu1 = self_cpu_us();
	if (conf.backend_pid)
		bcpu1 = proc_cpu_us((long)conf.backend_pid);

	uint64_t ops = 0, bytes = 0, errors = 0, kicks = 0, unwritten = 0, fill_left = 0;
	uint64_t *h = calloc(HIST_US + 1, sizeof(uint64_t));
	for (int i = 0; i < conf.queues; i++) {
		struct vhost_user_vring_state st = { (uint32_t)i, 0 };
		msg_call(VHOST_USER_GET_VRING_BASE, &st, sizeof(st), -1, &st, sizeof(st));
		ops += qs[i].ops;
		bytes += qs[i].bytes;
		errors += qs[i].errors;
		kicks += qs[i].kicks;
		unwritten += qs[i].unwritten;
		fill_left += qs[i].fill_left;
		for (unsigned k = 0; k <= HIST_US; k++)
			h[k] += qs[i].hist[k];
	}
	double secs = (double)(t1 - t0) / 1e9;
	double iops = (double)ops / secs;
	double cpu_io = ops ? (double)(cpu1 - cpu0) / (double)ops : 0;
	double bcpu_io = ops && conf.backend_pid ? (double)(bcpu1 - bcpu0) / (double)ops : 0;
	if (conf.json)
		printf("{\"rw\":\"%s\",\"bs\":%" PRIu64 ",\"iodepth\":%" PRId64 ",\"queues\":%" PRId64
		       ",\"ops\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"iops\":%.0f,\"mbps\":%.1f,"
		       "\"lat_p50_us\":%" PRIu64 ",\"lat_p99_us\":%" PRIu64 ",\"lat_p999_us\":%" PRIu64
		       ",\"driver_cpu_us_per_io\":%.2f,\"backend_cpu_us_per_io\":%.2f,\"kicks\":%"
		       PRIu64 ",\"unwritten\":%" PRIu64 ",\"secs\":%.3f}\n",
		       rw_choices[conf.rw], conf.bs, conf.iodepth, conf.queues, ops, errors, iops,
		       (double)bytes / secs / 1e6, percentile(h, ops, 0.5), percentile(h, ops, 0.99),
		       percentile(h, ops, 0.999), cpu_io, bcpu_io, kicks, unwritten, secs);
	else
		printf("%s bs=%" PRIu64 " qd=%" PRId64 " queues=%" PRId64 ": %.0f IOPS, %.1f MB/s, "
		       "lat p50 %" PRIu64 " us p99 %" PRIu64 " us p99.9 %" PRIu64 " us, driver CPU "
		       "%.2f us/IO, backend CPU %.2f us/IO, %" PRIu64 " kicks, %" PRIu64 " unwritten "
		       "reads, %" PRIu64 " errors\n",
		       rw_choices[conf.rw], conf.bs, conf.iodepth, conf.queues, iops,
		       (double)bytes / secs / 1e6, percentile(h, ops, 0.5), percentile(h, ops, 0.99),
		       percentile(h, ops, 0.999), cpu_io, bcpu_io, kicks, unwritten, errors);
	close(sock);
	for (int i = 0; i < conf.queues; i++) {
		free(qs[i].hist);
		close(qs[i].kick_fd);
		close(qs[i].call_fd);
	}
	free(qs);
	free(h);
	munmap(mem, mem_size);
	close(memfd);
	if (conf.fill && fill_left) {
		fprintf(stderr, "tessera-vhost-bench: --fill did not finish within --runtime\n");
		return 1;
	}
	return errors ? 1 : 0;

proto_err:
	fprintf(stderr, "tessera-vhost-bench: vhost-user handshake with %s failed\n", conf.socket);
	return 2;
}
