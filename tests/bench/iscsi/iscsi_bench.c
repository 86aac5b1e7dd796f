/*
 * tessera-iscsi-bench: an asynchronous libiscsi load generator, for
 * tessera-iscsi and any other iSCSI target (tgt, LIO) alike.
 *
 * One session, QD commands in flight (READ16/WRITE16 of --bs bytes at random
 * or sequential block-aligned offsets within --size), for --time seconds after
 * a warm-up. Reports IOPS, MB/s, latency percentiles, the generator's own CPU
 * per I/O and, with --pid, the target process's CPU per I/O (utime+stime from
 * /proc). --verify stamps every written block (LBA, generation, seed) and
 * reads back every block written at the end; a random write never targets a
 * block that is still in flight, so the expected contents are exact.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD 256
#define MAX_SAMPLES (4u << 20)

enum mode { M_RANDREAD, M_RANDWRITE, M_READ, M_WRITE, M_RANDRW };

struct slot {
	struct bench *b;
	uint64_t lba;
	uint64_t start_ns;
	bool write;
	bool verify_read;
	bool used;
	unsigned char *buf;
};

struct bench {
	struct iscsi_context *ctx;
	int lun;
	uint32_t block;    /* the LUN's logical block size */
	uint32_t bs;       /* bytes per I/O */
	uint64_t nblk_io;  /* I/O units in the range */
	enum mode mode;
	bool verify;
	uint64_t seed;
	uint64_t seq_next;
	uint32_t *gen;     /* verify: generation per I/O unit, 0: never written */
	uint8_t *busy;     /* verify: unit in flight */
	uint64_t done, errors, bytes;
	uint64_t inflight;
	bool measuring, stop;
	uint32_t *lat_us;
	uint64_t nlat;
	uint64_t verify_bad;
	uint64_t rng;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
rnd(struct bench *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

static void
stamp(struct bench *b, unsigned char *p, uint64_t unit, uint32_t gen)
{
	for (uint32_t off = 0; off < b->bs; off += 512) {
		uint64_t w[4] = {unit, gen, b->seed, off};

		memcpy(p + off, w, sizeof(w));
		memset(p + off + sizeof(w), (int)(gen + off / 512) & 0xff, 512 - sizeof(w));
	}
}

static bool
stamp_ok(struct bench *b, const unsigned char *p, uint64_t unit, uint32_t gen)
{
	unsigned char want[512];

	for (uint32_t off = 0; off < b->bs; off += 512) {
		uint64_t w[4] = {unit, gen, b->seed, off};

		memcpy(want, w, sizeof(w));
		memset(want + sizeof(w), (int)(gen + off / 512) & 0xff, 512 - sizeof(w));
		if (memcmp(p + off, want, 512))
			return false;
	}
	return true;
}

static void submit(struct slot *s);

static void
done_cb(struct iscsi_context *ctx, int status, void *command_data, void *private_data)
{
	struct slot *s = private_data;
	struct bench *b = s->b;
	struct scsi_task *task = command_data;
	uint64_t unit = s->lba * b->block / b->bs;

	(void)ctx;
	b->inflight--;
	s->used = false;
	if (status != SCSI_STATUS_GOOD) {
		b->errors++;
		fprintf(stderr, "%s at LBA %" PRIu64 ": status %d %s\n",
			s->write ? "write" : "read", s->lba, status, iscsi_get_error(b->ctx));
	} else if (s->verify_read) {
		if (!task->datain.data || task->datain.size < (int)b->bs ||
		    !stamp_ok(b, task->datain.data, unit, b->gen[unit])) {
			b->verify_bad++;
			if (b->verify_bad <= 5)
				fprintf(stderr, "verify: unit %" PRIu64 " (LBA %" PRIu64
						") does not hold generation %u\n",
					unit, s->lba, b->gen[unit]);
		}
	}
	if (b->busy)
		b->busy[unit] = 0;
	if (b->measuring && status == SCSI_STATUS_GOOD && !s->verify_read) {
		uint64_t us = (now_ns() - s->start_ns) / 1000;

		b->done++;
		b->bytes += b->bs;
		if (b->nlat < MAX_SAMPLES)
			b->lat_us[b->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
	if (task)
		scsi_free_scsi_task(task);
	if (!b->stop && !s->verify_read)
		submit(s);
}

static void
submit(struct slot *s)
{
	struct bench *b = s->b;
	uint64_t unit;
	struct scsi_task *t;
	uint32_t per = b->bs / b->block;

	switch (b->mode) {
	case M_READ:
	case M_WRITE:
		unit = b->seq_next++ % b->nblk_io;
		break;
	default:
		unit = rnd(b) % b->nblk_io;
		if (b->busy) {
			for (int i = 0; i < 64 && b->busy[unit]; i++)
				unit = rnd(b) % b->nblk_io;
			if (b->busy[unit])
				return; /* give up this slot for now; others keep going */
		}
		break;
	}
	s->write = b->mode == M_WRITE || b->mode == M_RANDWRITE ||
		   (b->mode == M_RANDRW && (rnd(b) & 1));
	s->verify_read = false;
	s->lba = unit * per;
	s->start_ns = now_ns();
	if (b->busy)
		b->busy[unit] = 1;
	s->used = true;
	if (s->write) {
		if (b->verify) {
			b->gen[unit]++;
			stamp(b, s->buf, unit, b->gen[unit]);
		}
		t = iscsi_write16_task(b->ctx, b->lun, s->lba, s->buf, b->bs, b->block, 0, 0, 0, 0,
				       0, done_cb, s);
	} else {
		t = iscsi_read16_task(b->ctx, b->lun, s->lba, b->bs, b->block, 0, 0, 0, 0, 0,
				      done_cb, s);
	}
	if (!t) {
		fprintf(stderr, "cannot queue a command: %s\n", iscsi_get_error(b->ctx));
		b->errors++;
		b->stop = true;
		return;
	}
	b->inflight++;
}

static int
service(struct bench *b, int timeout_ms)
{
	struct pollfd pfd = {.fd = iscsi_get_fd(b->ctx), .events = iscsi_which_events(b->ctx)};
	int n = poll(&pfd, 1, timeout_ms);

	if (n < 0 && errno != EINTR)
		return -1;
	if (n > 0 && iscsi_service(b->ctx, pfd.revents) < 0) {
		fprintf(stderr, "iscsi_service: %s\n", iscsi_get_error(b->ctx));
		return -1;
	}
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
cpu_s_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* utime+stime of a process in seconds, or -1. */
static double
cpu_s_pid(long pid)
{
	char path[64], line[4096], *p;
	unsigned long long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(line, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* "4096", "4K", "1M", "2G". Returns 0 on error. */
static uint64_t
parse_size(const char *s)
{
	char *end = NULL;
	uint64_t v = strtoull(s, &end, 0);

	switch (end && *end ? *end : 0) {
	case 0: return v;
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	default: return 0;
	}
	return end[1] ? 0 : v;
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: tessera-iscsi-bench [OPTIONS] iscsi://HOST[:PORT]/TARGET-IQN/LUN\n"
		"Asynchronous libiscsi load generator (any iSCSI target).\n"
		"  --rw MODE        randread|randwrite|read|write|randrw [randread]\n"
		"  --bs BYTES       I/O size, a multiple of the block size [4096]\n"
		"  --qd N           commands in flight, 1..%d [1]\n"
		"  --time SEC       measured seconds [10]\n"
		"  --warmup SEC     seconds before measuring [1]\n"
		"  --size BYTES     range used from offset 0 [whole LUN]\n"
		"  --verify         stamp writes and read every written unit back at the end\n"
		"  --pid PID        also report this process's CPU per I/O (the target)\n"
		"  --label TEXT     first column of the result line\n"
		"  --header-digest  negotiate CRC32C header digests\n"
		"  --json           print the result as JSON\n"
		"  --help           this text\n",
		MAX_QD);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rw", required_argument, NULL, 'r'},   {"bs", required_argument, NULL, 'b'},
		{"qd", required_argument, NULL, 'q'},   {"time", required_argument, NULL, 't'},
		{"warmup", required_argument, NULL, 'w'}, {"size", required_argument, NULL, 's'},
		{"verify", no_argument, NULL, 'V'},     {"pid", required_argument, NULL, 'p'},
		{"label", required_argument, NULL, 'l'}, {"json", no_argument, NULL, 'j'},
		{"header-digest", no_argument, NULL, 'H'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench b = {.bs = 4096, .mode = M_RANDREAD, .rng = 0x9e3779b97f4a7c15ull};
	struct slot slots[MAX_QD];
	struct iscsi_url *url;
	struct scsi_task *t;
	unsigned qd = 1;
	double secs = 10, warm = 1, cpu0, cpu1, tcpu0 = -1, tcpu1 = -1;
	uint64_t size = 0, t0, t1;
	long pid = 0;
	const char *label = NULL;
	bool json = false, hdig = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!strcmp(optarg, "randread")) b.mode = M_RANDREAD;
			else if (!strcmp(optarg, "randwrite")) b.mode = M_RANDWRITE;
			else if (!strcmp(optarg, "read")) b.mode = M_READ;
			else if (!strcmp(optarg, "write")) b.mode = M_WRITE;
			else if (!strcmp(optarg, "randrw")) b.mode = M_RANDRW;
			else {
				fprintf(stderr, "invalid --rw '%s'\n", optarg);
				return 2;
			}
			break;
		case 'b': b.bs = (uint32_t)parse_size(optarg); break;
		case 'q': qd = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 's':
			size = parse_size(optarg);
			if (!size) {
				fprintf(stderr, "invalid --size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'V': b.verify = true; break;
		case 'p': pid = strtol(optarg, NULL, 10); break;
		case 'l': label = optarg; break;
		case 'j': json = true; break;
		case 'H': hdig = true; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "tessera-iscsi-bench: invalid arguments (see --help)\n");
			return 2;
		}
	}
	if (optind != argc - 1 || qd < 1 || qd > MAX_QD || b.bs == 0 || secs <= 0) {
		fprintf(stderr, "tessera-iscsi-bench: invalid arguments (see --help)\n");
		return 2;
	}
	b.ctx = iscsi_create_context("iqn.2026-11.io.tessera:bench");
	url = b.ctx ? iscsi_parse_full_url(b.ctx, argv[optind]) : NULL;
	if (!url) {
		fprintf(stderr, "invalid URL %s: %s\n", argv[optind],
			b.ctx ? iscsi_get_error(b.ctx) : "no context");
		return 2;
	}
	iscsi_set_targetname(b.ctx, url->target);
	iscsi_set_session_type(b.ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(b.ctx, hdig ? ISCSI_HEADER_DIGEST_CRC32C : ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(b.ctx, url->portal, url->lun) != 0) {
		fprintf(stderr, "login to %s failed: %s\n", argv[optind], iscsi_get_error(b.ctx));
		return 1;
	}
	b.lun = url->lun;
	t = iscsi_readcapacity16_sync(b.ctx, b.lun);
	if (!t || t->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "READ CAPACITY(16) failed: %s\n", iscsi_get_error(b.ctx));
		return 1;
	}
	{
		struct scsi_readcapacity16 *rc = scsi_datain_unmarshall(t);
		uint64_t cap;

		if (!rc)
			return 1;
		b.block = rc->block_length;
		cap = (rc->returned_lba + 1) * (uint64_t)b.block;
		if (!size || size > cap)
			size = cap;
		scsi_free_scsi_task(t);
	}
	if (b.bs % b.block || size < b.bs) {
		fprintf(stderr, "--bs must be a multiple of the block size %u and fit the LUN\n",
			b.block);
		return 2;
	}
	b.nblk_io = size / b.bs;
	b.seed = (uint64_t)now_ns();
	b.rng ^= b.seed;
	b.lat_us = malloc(MAX_SAMPLES * sizeof(uint32_t));
	if (b.verify || b.mode == M_RANDWRITE || b.mode == M_RANDRW) {
		b.busy = calloc(b.nblk_io, 1);
		b.gen = calloc(b.nblk_io, sizeof(uint32_t));
	}
	if (!b.lat_us || (b.busy && !b.gen) || (b.verify && !b.busy))
		return 1;
	for (unsigned i = 0; i < qd; i++) {
		slots[i].b = &b;
		if (posix_memalign((void **)&slots[i].buf, 4096, b.bs))
			return 1;
		memset(slots[i].buf, 0x5a, b.bs);
		submit(&slots[i]);
	}
	t0 = now_ns();
	while (!b.stop && now_ns() - t0 < (uint64_t)(warm * 1e9))
		if (service(&b, 100) < 0)
			return 1;
	b.measuring = true;
	cpu0 = cpu_s_self();
	if (pid)
		tcpu0 = cpu_s_pid(pid);
	t0 = now_ns();
	while (!b.stop && now_ns() - t0 < (uint64_t)(secs * 1e9)) {
		if (service(&b, 100) < 0)
			return 1;
		/* Slots that gave up (every candidate unit busy) start again. */
		for (unsigned i = 0; i < qd && b.inflight < qd; i++)
			if (!slots[i].used)
				submit(&slots[i]);
	}
	t1 = now_ns();
	cpu1 = cpu_s_self();
	if (pid)
		tcpu1 = cpu_s_pid(pid);
	b.measuring = false;
	b.stop = true;
	for (int i = 0; i < 3000 && b.inflight; i++)
		if (service(&b, 10) < 0)
			return 1;
	if (b.verify) {
		/* Read back every unit ever written, QD at a time. */
		uint64_t next = 0, checked = 0;

		while (next < b.nblk_io || b.inflight) {
			while (b.inflight < qd && next < b.nblk_io) {
				struct slot *s = NULL;

				for (unsigned i = 0; i < qd && !s; i++)
					if (!slots[i].used)
						s = &slots[i];
				if (!b.gen[next]) {
					next++;
					continue;
				}
				s->verify_read = true;
				s->used = true;
				s->write = false;
				s->lba = next * (b.bs / b.block);
				t = iscsi_read16_task(b.ctx, b.lun, s->lba, b.bs, b.block, 0, 0, 0, 0,
						      0, done_cb, s);
				if (!t)
					return 1;
				b.inflight++;
				checked++;
				next++;
			}
			if (service(&b, 100) < 0)
				return 1;
		}
		fprintf(stderr, "verify: %" PRIu64 " units read back, %" PRIu64 " bad\n", checked,
			b.verify_bad);
	}
	{
		double el = (double)(t1 - t0) / 1e9;
		double iops = (double)b.done / el;
		double cpu_us = b.done ? (cpu1 - cpu0) * 1e6 / (double)b.done : 0;
		double tcpu_us = (pid && tcpu0 >= 0 && tcpu1 >= 0 && b.done)
					 ? (tcpu1 - tcpu0) * 1e6 / (double)b.done
					 : -1;
		uint32_t p50 = 0, p99 = 0, p999 = 0;
		static const char *names[] = {"randread", "randwrite", "read", "write", "randrw"};

		if (b.nlat) {
			qsort(b.lat_us, b.nlat, sizeof(uint32_t), cmp_u32);
			p50 = b.lat_us[b.nlat / 2];
			p99 = b.lat_us[b.nlat * 99 / 100];
			p999 = b.lat_us[b.nlat * 999 / 1000];
		}
		if (json)
			printf("{\"label\":\"%s\",\"rw\":\"%s\",\"bs\":%u,\"qd\":%u,\"iops\":%.0f,"
			       "\"mbps\":%.1f,\"p50_us\":%u,\"p99_us\":%u,\"p999_us\":%u,"
			       "\"bench_cpu_us_per_io\":%.1f,\"target_cpu_us_per_io\":%.1f,"
			       "\"errors\":%" PRIu64 ",\"verify_bad\":%" PRIu64 "}\n",
			       label ? label : "", names[b.mode], b.bs, qd, iops,
			       (double)b.bytes / el / 1e6, p50, p99, p999, cpu_us, tcpu_us, b.errors,
			       b.verify_bad);
		else {
			char tcpu[32] = "-";

			if (tcpu_us >= 0)
				snprintf(tcpu, sizeof(tcpu), "%.1f", tcpu_us);
			printf("%-16s %-9s bs=%-6u qd=%-3u %9.0f IOPS %8.1f MB/s  p50 %6u us  p99 %6u "
			       "us  p99.9 %6u us  bench %.1f us/io  target %s us/io  errors %" PRIu64
			       "\n",
			       label ? label : "-", names[b.mode], b.bs, qd, iops,
			       (double)b.bytes / el / 1e6, p50, p99, p999, cpu_us, tcpu, b.errors);
		}
	}
	iscsi_logout_sync(b.ctx);
	iscsi_destroy_url(url);
	iscsi_destroy_context(b.ctx);
	for (unsigned i = 0; i < qd; i++)
		free(slots[i].buf);
	free(b.lat_us);
	free(b.busy);
	free(b.gen);
	return (b.errors || b.verify_bad) ? 1 : 0;
}
