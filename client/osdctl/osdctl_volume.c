/*
 * osdctl volume commands (through libtessera) and `osdctl bench`.
 *
 *   volume create NAME SIZE [--pool P] [--object-size S]
 *   volume ls | info NAME | rm NAME | rename NAME NEW
 *   volume resize NAME SIZE [--allow-shrink]
 *   volume import FILE NAME [--existing] [--iodepth N] [--progress]
 *   volume export NAME FILE [--iodepth N] [--progress]
 *   bench NAME [tessera-bench options]
 *
 * Sizes are bytes or K/M/G/T (powers of 1024). Every command is a libtessera
 * call, so osdctl and applications see the same volumes and errors. Exit
 * codes as for the rest of osdctl: 0 ok, 1 refused by the cluster (no such
 * volume, name taken, open elsewhere...), 2 usage, 3 no monitor reachable.
 *
 * import/export move data with a tsr_queue owned by this thread: up to
 * --iodepth requests of one chunk (1 MiB, or the object size if smaller) in
 * flight, the file read and written with pread/pwrite between completions.
 * The file side is a plain blocking file; the point is to keep the cluster
 * busy, and a chunk's pread takes far less than its replicated write. Import
 * skips all-zero chunks when it created the volume (unwritten blocks read as
 * zeroes) and writes zeroes explicitly with --existing; export leaves holes
 * for all-zero chunks and sets the file size to the volume size.
 *
 * `bench` execs tessera-bench (next to osdctl, else on PATH) with --volume
 * NAME, -m passed as --mon, and every other argument passed through.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tessera/tessera.h>

#include "osdctl.h"
#include "rt_conf.h"

#define VOL_CHUNK_MAX (1u << 20)
#define VOL_QD_MAX 256

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Exit code for a libtessera error: unreachable cluster 3, else refused 1. */
static int
vol_exit(int rc)
{
	return rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -ECONNREFUSED ||
			       rc == -EHOSTUNREACH || rc == -ENETUNREACH
		       ? 3
		       : 1;
}

/* tsr_strerror, with the volume commands' usual errors said plainly. */
static const char *
vol_strerror(int rc)
{
	switch (rc) {
	case -ENOENT:
		return "no such volume (or pool)";
	case -EEXIST:
		return "a volume with this name exists";
	case -EBUSY:
		return "the volume is open by a client";
	default:
		return tsr_strerror(rc);
	}
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
human_size(uint64_t b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	unsigned u = 0;
	double v = (double)b;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

static void
print_info_json(const struct tsr_volume_info *v)
{
	printf("{\"id\":%" PRIu64 ",\"name\":", v->id);
	json_str(v->name);
	printf(",\"pool\":");
	json_str(v->pool);
	printf(",\"pool_id\":%u,\"size\":%" PRIu64 ",\"object_size\":%u,\"num_objects\":%" PRIu64
	       ",\"features\":%" PRIu64 "}",
	       v->pool_id, v->size, v->object_size, v->num_objects, v->features);
}

static void
print_info_plain(const struct tsr_volume_info *v)
{
	char sz[32], osz[32];

	human_size(v->size, sz, sizeof(sz));
	human_size(v->object_size, osz, sizeof(osz));
	printf("volume %s\n  id:          %" PRIu64 "\n  pool:        %s (id %u)\n"
	       "  size:        %s (%" PRIu64 " bytes)\n  object size: %s\n  objects:     %" PRIu64
	       "\n",
	       v->name, v->id, v->pool, v->pool_id, sz, v->size, osz, v->num_objects);
}

/* A size argument: bytes or K/M/G/T. Returns 0, or 2 (usage) after a message. */
static int
parse_vol_size(const char *what, const char *s, uint64_t *out)
{
	if (rt_parse_size(s, out) < 0) {
		fprintf(stderr, "osdctl: %s: invalid size '%s' (bytes, or with K/M/G/T: 10G, 512M)\n",
			what, s);
		return 2;
	}
	if (*out % TSR_BLOCK_SIZE) {
		fprintf(stderr, "osdctl: %s: invalid size '%s': not a multiple of 4 KiB\n", what, s);
		return 2;
	}
	return 0;
}

static int
connect_cluster(const char *mons, uint64_t timeout_us, unsigned qd, struct tsr_cluster **out)
{
	struct tsr_cluster *cl;
	char num[32];
	int rc;

	rc = tsr_cluster_create(&cl);
	if (rc < 0) {
		fprintf(stderr, "osdctl: %s\n", tsr_strerror(rc));
		return 1;
	}
	rc = tsr_conf_set(cl, "mon", mons);
	if (rc < 0) {
		fprintf(stderr, "osdctl: bad monitor list '%s'\n", mons);
		tsr_cluster_shutdown(cl);
		return 2;
	}
	snprintf(num, sizeof(num), "%" PRIu64, (timeout_us + 999999) / 1000000);
	(void)tsr_conf_set(cl, "connect_timeout", num);
	/* Errors are reported by osdctl itself; the library's warnings only add noise. */
	(void)tsr_conf_set(cl, "log_level", "error");
	if (qd) {
		snprintf(num, sizeof(num), "%u", qd);
		(void)tsr_conf_set(cl, "queue_depth", num);
	}
	rc = tsr_cluster_connect(cl);
	if (rc < 0) {
		fprintf(stderr, "osdctl: cannot connect to the cluster at %s: %s\n", mons,
			tsr_strerror(rc));
		tsr_cluster_shutdown(cl);
		return rc == -EINVAL ? 2 : 3;
	}
	*out = cl;
	return 0;
}

/* ------------------------------------------------------------- import/export */

struct xfer;

struct xfer_slot {
	struct xfer *x;
	void *buf;
	uint64_t off;
	uint32_t len;     /* bytes moved to/from the volume (4 KiB multiple) */
	uint32_t file_len; /* bytes of the file this chunk covers */
	bool zero;        /* write_zeroes instead of a write */
	bool busy;
};

struct xfer {
	bool import;
	int fd;
	struct tsr_queue *q;
	struct tsr_volume *vol;
	uint64_t total;   /* bytes to move (the volume side) */
	uint64_t file_size;
	uint64_t next;    /* next offset to submit */
	uint64_t done;    /* bytes completed */
	uint32_t chunk;
	bool skip_zero;   /* import into a fresh volume: leave zero chunks unwritten */
	int err;          /* first error, negative errno */
	char errwhere[64];
	struct xfer_slot slots[VOL_QD_MAX];
	unsigned nslots;
	bool progress;
	uint64_t start_us, last_us;
};

static bool
all_zero(const void *p, size_t len)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++) {
		if (w[i])
			return false;
	}
	return true;
}

static void
xfer_progress(struct xfer *x, bool final)
{
	uint64_t now = mono_us();
	double secs, pct, rate;
	char bar[41];
	unsigned fill;

	if (!x->progress || (!final && now - x->last_us < 200000))
		return;
	x->last_us = now;
	secs = (double)(now - x->start_us) / 1e6;
	pct = x->total ? 100.0 * (double)x->done / (double)x->total : 100.0;
	rate = secs > 0 ? (double)x->done / secs / (1 << 20) : 0;
	fill = (unsigned)(pct * 40 / 100);
	memset(bar, '#', fill);
	memset(bar + fill, ' ', 40 - fill);
	bar[40] = '\0';
	fprintf(stderr, "\r%s: [%s] %5.1f%% %" PRIu64 "/%" PRIu64 " MiB %.0f MiB/s%s",
		x->import ? "import" : "export", bar, pct, x->done >> 20, x->total >> 20, rate,
		final ? "\n" : "");
}

static void
xfer_set_err(struct xfer *x, int rc, const char *where)
{
	if (!x->err) {
		x->err = rc;
		snprintf(x->errwhere, sizeof(x->errwhere), "%s", where);
	}
}

static void
xfer_done(void *arg, ssize_t result)
{
	struct xfer_slot *s = arg;
	struct xfer *x = s->x;

	s->busy = false;
	if (result < 0) {
		xfer_set_err(x, (int)result, x->import ? "volume write" : "volume read");
		return;
	}
	if (!x->import && !all_zero(s->buf, s->len)) {
		size_t left = s->file_len;
		const char *p = s->buf;
		off_t off = (off_t)s->off;

		while (left) {
			ssize_t n = pwrite(x->fd, p, left, off);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				xfer_set_err(x, -errno, "file write");
				return;
			}
			left -= (size_t)n;
			p += n;
			off += n;
		}
	}
	x->done += s->len;
}

/* Fill and submit one chunk into slot s. Returns 0, 1 (nothing to submit), or -errno. */
static int
xfer_submit(struct xfer *x, struct xfer_slot *s)
{
	uint64_t off = x->next;
	uint32_t len = (uint32_t)(x->total - off < x->chunk ? x->total - off : x->chunk);
	int rc;

	s->off = off;
	s->len = len;
	s->file_len = off >= x->file_size ? 0
					    : (uint32_t)(x->file_size - off < len ? x->file_size - off
										  : len);
	s->zero = false;
	if (x->import) {
		size_t got = 0;

		while (got < s->file_len) {
			ssize_t n = pread(x->fd, (char *)s->buf + got, s->file_len - got,
					  (off_t)(off + got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				xfer_set_err(x, n < 0 ? -errno : -EIO, "file read");
				return x->err;
			}
			got += (size_t)n;
		}
		memset((char *)s->buf + got, 0, len - got);
		if (all_zero(s->buf, len)) {
			if (x->skip_zero) {
				x->next += len;
				x->done += len;
				return 0;
			}
			s->zero = true;
		}
		rc = s->zero ? tsr_queue_write_zeroes(x->q, x->vol, off, len, xfer_done, s)
			     : tsr_queue_write(x->q, x->vol, off, len, s->buf, xfer_done, s);
	} else {
		rc = tsr_queue_read(x->q, x->vol, off, len, s->buf, xfer_done, s);
	}
	if (rc == -EAGAIN)
		return 1;
	if (rc < 0) {
		xfer_set_err(x, rc, x->import ? "volume write" : "volume read");
		return rc;
	}
	s->busy = true;
	x->next += len;
	return 0;
}

static int
xfer_run(struct xfer *x)
{
	int rc;

	x->start_us = mono_us();
	for (;;) {
		bool stalled = false;

		for (unsigned i = 0; i < x->nslots && !x->err && x->next < x->total; i++) {
			if (x->slots[i].busy)
				continue;
			rc = xfer_submit(x, &x->slots[i]);
			if (rc == 1) {
				stalled = true;
				break;
			}
			if (rc < 0)
				break;
		}
		if (tsr_queue_inflight(x->q) == 0) {
			if (x->err || x->next >= x->total)
				break;
			if (!stalled)
				continue; /* only skipped zero chunks so far */
		}
		rc = tsr_queue_wait(x->q, stalled ? 10000 : 200000);
		if (rc < 0) {
			xfer_set_err(x, rc, "queue");
			/* Drain what is in flight before giving up on the queue. */
			for (int k = 0; k < 1000 && tsr_queue_inflight(x->q); k++)
				(void)tsr_queue_wait(x->q, 100000);
			break;
		}
		xfer_progress(x, false);
	}
	xfer_progress(x, true);
	return x->err;
}

static int
vol_xfer(struct tsr_cluster *cl, const struct osdctl_vol_args *a, bool import, const char *file,
	 const char *name)
{
	struct tsr_volume_info info;
	struct xfer *x;
	struct stat st;
	bool created = false;
	int rc, ret = 1, qd;
	char sz[32];

	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "osdctl: out of memory\n");
		return 1;
	}
	x->import = import;
	x->progress = a->progress || isatty(STDERR_FILENO);
	qd = (int)(a->iodepth < 1 ? 1 : a->iodepth > VOL_QD_MAX ? VOL_QD_MAX : a->iodepth);
	x->fd = import ? open(file, O_RDONLY | O_CLOEXEC)
		       : open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (x->fd < 0) {
		fprintf(stderr, "osdctl: volume %s: cannot open %s: %s\n",
			import ? "import" : "export", file, strerror(errno));
		free(x);
		return 1;
	}
	if (import) {
		if (fstat(x->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "osdctl: volume import: %s is not a regular file\n", file);
			goto out_close;
		}
		x->file_size = (uint64_t)st.st_size;
		x->total = (x->file_size + TSR_BLOCK_SIZE - 1) / TSR_BLOCK_SIZE * TSR_BLOCK_SIZE;
		if (!a->existing) {
			struct tsr_volume_opts o = { .pool = a->pool,
						     .object_size = (uint32_t)a->object_size };

			rc = tsr_volume_create(cl, name, x->total, &o);
			if (rc < 0) {
				fprintf(stderr, "osdctl: volume import: cannot create volume '%s': %s%s\n",
					name, vol_strerror(rc),
					rc == -EEXIST ? " (use --existing to import into it)" : "");
				ret = vol_exit(rc);
				goto out_close;
			}
			created = true;
			x->skip_zero = true;
		}
	}
	rc = tsr_volume_open(cl, name, &x->vol);
	if (rc < 0) {
		fprintf(stderr, "osdctl: volume %s: cannot open volume '%s': %s\n",
			import ? "import" : "export", name, vol_strerror(rc));
		ret = vol_exit(rc);
		goto out_close;
	}
	tsr_volume_stat(x->vol, &info);
	if (import && info.size < x->total) {
		human_size(info.size, sz, sizeof(sz));
		fprintf(stderr, "osdctl: volume import: volume '%s' (%s) is smaller than %s "
				"(%" PRIu64 " bytes): resize it first\n",
			name, sz, file, x->file_size);
		goto out_vol;
	}
	if (!import) {
		x->total = info.size;
		x->file_size = info.size;
	}
	x->chunk = info.object_size < VOL_CHUNK_MAX ? info.object_size : VOL_CHUNK_MAX;
	rc = tsr_queue_create(cl, &x->q);
	if (rc < 0) {
		fprintf(stderr, "osdctl: cannot create an I/O queue: %s\n", tsr_strerror(rc));
		goto out_vol;
	}
	for (int i = 0; i < qd; i++) {
		x->slots[i].x = x;
		if (posix_memalign(&x->slots[i].buf, 4096, x->chunk)) {
			fprintf(stderr, "osdctl: out of memory\n");
			goto out_bufs;
		}
		x->nslots++;
	}
	rc = xfer_run(x);
	if (rc < 0) {
		fprintf(stderr, "osdctl: volume %s: %s failed at about offset %" PRIu64 ": %s\n",
			import ? "import" : "export", x->errwhere, x->next, tsr_strerror(rc));
		ret = rc == -ETIMEDOUT ? 3 : 1;
		goto out_bufs;
	}
	if (!import) {
		if (ftruncate(x->fd, (off_t)x->file_size) < 0 || fsync(x->fd) < 0) {
			fprintf(stderr, "osdctl: volume export: %s: %s\n", file, strerror(errno));
			goto out_bufs;
		}
	}
	{
		double secs = (double)(mono_us() - x->start_us) / 1e6;

		human_size(x->total, sz, sizeof(sz));
		if (a->json)
			printf("{\"volume\":\"%s\",\"file\":\"%s\",\"bytes\":%" PRIu64
			       ",\"seconds\":%.3f,\"created\":%s}\n",
			       name, file, x->total, secs, created ? "true" : "false");
		else
			printf("%s %s %s %s (%s) in %.1f s, %.0f MiB/s\n",
			       import ? "imported" : "exported", import ? file : name,
			       import ? "into volume" : "to", import ? name : file, sz, secs,
			       secs > 0 ? (double)x->total / secs / (1 << 20) : 0.0);
	}
	ret = 0;
out_bufs:
	for (unsigned i = 0; i < x->nslots; i++)
		free(x->slots[i].buf);
	if (x->q && tsr_queue_destroy(x->q) < 0)
		fprintf(stderr, "osdctl: I/O still in flight at exit\n");
out_vol:
	tsr_volume_close(x->vol);
	if (ret != 0 && created) {
		rc = tsr_volume_remove(cl, name);
		if (rc < 0)
			fprintf(stderr, "osdctl: volume import: could not remove the partly "
					"imported volume '%s': %s\n",
				name, tsr_strerror(rc));
	}
out_close:
	close(x->fd);
	if (ret != 0 && !import)
		(void)unlink(file);
	free(x);
	return ret;
}

/* -------------------------------------------------------------- the commands */

static const struct {
	const char *sub;
	int n_pos;
	const char *usage;
	const char *help;
} vol_cmds[] = {
	{ "create", 2, "NAME SIZE", "create a volume (--pool P --object-size S)" },
	{ "ls", 0, "", "list volumes" },
	{ "info", 1, "NAME", "show one volume" },
	{ "resize", 2, "NAME SIZE", "grow a volume, or shrink it with --allow-shrink" },
	{ "rm", 1, "NAME", "remove a volume and its data (refused while open)" },
	{ "rename", 2, "NAME NEW", "rename a volume (open clients keep working)" },
	{ "import", 2, "FILE NAME", "copy a file into a new volume (or --existing)" },
	{ "export", 2, "NAME FILE", "copy a volume into a file" },
};

void
osdctl_volume_usage(const char *sub, FILE *f)
{
	if (strcmp(sub, "create") == 0 || strcmp(sub, "import") == 0)
		fprintf(f, "\n  SIZE               bytes or K/M/G/T (10G, 512M): a multiple of 4 KiB\n"
			   "  --pool P           pool (default: rbd, else the only pool)\n"
			   "  --object-size S    object size, a power of two from 64K to 64M "
			   "(default 4M)\n");
	if (strcmp(sub, "resize") == 0)
		fprintf(f, "\n  SIZE               the new size (bytes or K/M/G/T)\n"
			   "  --allow-shrink     needed to shrink: the data past SIZE is deleted\n");
	if (strcmp(sub, "import") == 0)
		fprintf(f, "  --existing         import into the existing volume NAME (at least the "
			   "file's size)\n"
			   "The new volume's size is the file's size rounded up to 4 KiB.\n");
	if (strcmp(sub, "import") == 0 || strcmp(sub, "export") == 0)
		fprintf(f, "  --iodepth N        requests of 1 MiB in flight (default 8)\n"
			   "  --progress         show a progress bar on stderr even when it is not a "
			   "terminal\n");
	if (strcmp(sub, "rm") == 0)
		fprintf(f, "\nRefused (exit 1) while any client has the volume open.\n");
}

int
osdctl_volume(const char *mons, const struct osdctl_vol_args *a, const char *sub, char **pos,
	      int n_pos)
{
	struct tsr_cluster *cl = NULL;
	uint64_t size = 0;
	int rc, ret = 0;
	size_t i;

	for (i = 0; i < sizeof(vol_cmds) / sizeof(vol_cmds[0]); i++) {
		if (strcmp(vol_cmds[i].sub, sub) == 0)
			break;
	}
	if (i == sizeof(vol_cmds) / sizeof(vol_cmds[0])) {
		fprintf(stderr, "osdctl: volume: unknown subcommand '%s' (see osdctl --help)\n",
			sub);
		return 2;
	}
	if (n_pos != vol_cmds[i].n_pos) {
		fprintf(stderr, "osdctl: volume %s: expected %s%s\n", sub,
			vol_cmds[i].n_pos ? "arguments " : "no arguments", vol_cmds[i].usage);
		return 2;
	}
	if (strcmp(sub, "create") == 0 || strcmp(sub, "resize") == 0) {
		rc = parse_vol_size(strcmp(sub, "create") == 0 ? "volume create" : "volume resize",
				    pos[1], &size);
		if (rc)
			return rc;
	}
	if (a->object_size && (a->object_size < (64u << 10) || a->object_size > (64u << 20) ||
			       (a->object_size & (a->object_size - 1)))) {
		fprintf(stderr, "osdctl: invalid --object-size: a power of two from 64K to 64M\n");
		return 2;
	}
	rc = connect_cluster(mons, a->timeout_us,
			     strcmp(sub, "import") == 0 || strcmp(sub, "export") == 0
				     ? (unsigned)(a->iodepth > VOL_QD_MAX ? VOL_QD_MAX : a->iodepth)
				     : 0,
			     &cl);
	if (rc)
		return rc;

	if (strcmp(sub, "create") == 0) {
		struct tsr_volume_opts o = { .pool = a->pool, .object_size = (uint32_t)a->object_size };
		struct tsr_volume_info info;

		rc = tsr_volume_create(cl, pos[0], size, &o);
		if (rc < 0) {
			fprintf(stderr, "osdctl: volume create %s: %s\n", pos[0], vol_strerror(rc));
			ret = vol_exit(rc);
		} else if (tsr_volume_info_by_name(cl, pos[0], &info) == 0) {
			if (a->json) {
				print_info_json(&info);
				putchar('\n');
			} else {
				char sz[32];

				human_size(info.size, sz, sizeof(sz));
				printf("created volume %s: %s in pool %s\n", info.name, sz, info.pool);
			}
		}
	} else if (strcmp(sub, "ls") == 0) {
		struct tsr_volume_info *v = NULL;
		size_t n = 0, cap = 0;

		for (int tries = 0; tries < 8; tries++) {
			n = cap;
			rc = tsr_volume_list(cl, v, &n);
			if (rc != -ERANGE)
				break;
			cap = n + 16;
			free(v);
			v = calloc(cap, sizeof(*v));
			if (!v) {
				rc = -ENOMEM;
				break;
			}
		}
		if (rc < 0) {
			fprintf(stderr, "osdctl: volume ls: %s\n", tsr_strerror(rc));
			ret = vol_exit(rc);
		} else if (a->json) {
			printf("{\"volumes\":[");
			for (size_t k = 0; k < n; k++) {
				if (k)
					putchar(',');
				print_info_json(&v[k]);
			}
			printf("]}\n");
		} else {
			printf("%-32s %-12s %-12s %-8s %s\n", "NAME", "SIZE", "POOL", "OBJECT", "ID");
			for (size_t k = 0; k < n; k++) {
				char sz[32], osz[32];

				human_size(v[k].size, sz, sizeof(sz));
				human_size(v[k].object_size, osz, sizeof(osz));
				printf("%-32s %-12s %-12s %-8s %" PRIu64 "\n", v[k].name, sz, v[k].pool,
				       osz, v[k].id);
			}
		}
		free(v);
	} else if (strcmp(sub, "info") == 0) {
		struct tsr_volume_info info;

		rc = tsr_volume_info_by_name(cl, pos[0], &info);
		if (rc < 0) {
			fprintf(stderr, "osdctl: volume info %s: %s\n", pos[0], vol_strerror(rc));
			ret = vol_exit(rc);
		} else if (a->json) {
			print_info_json(&info);
			putchar('\n');
		} else {
			print_info_plain(&info);
		}
	} else if (strcmp(sub, "resize") == 0) {
		struct tsr_volume *vol = NULL;
		uint64_t old;

		rc = tsr_volume_open(cl, pos[0], &vol);
		if (rc == 0) {
			old = tsr_volume_size(vol);
			if (size < old && !a->allow_shrink) {
				char o[32], nw[32];

				human_size(old, o, sizeof(o));
				human_size(size, nw, sizeof(nw));
				fprintf(stderr, "osdctl: volume resize %s: shrinking from %s to %s "
						"deletes data; add --allow-shrink\n",
					pos[0], o, nw);
				tsr_volume_close(vol);
				tsr_cluster_shutdown(cl);
				return 1;
			}
			rc = tsr_volume_resize(vol, size,
					       a->allow_shrink ? TSR_RESIZE_ALLOW_SHRINK : 0);
			tsr_volume_close(vol);
		}
		if (rc < 0) {
			fprintf(stderr, "osdctl: volume resize %s: %s\n", pos[0], vol_strerror(rc));
			ret = vol_exit(rc);
		} else if (a->json) {
			printf("{\"name\":");
			json_str(pos[0]);
			printf(",\"size\":%" PRIu64 "}\n", size);
		} else {
			char sz[32];

			human_size(size, sz, sizeof(sz));
			printf("resized volume %s to %s\n", pos[0], sz);
		}
	} else if (strcmp(sub, "rm") == 0) {
		rc = tsr_volume_remove(cl, pos[0]);
		if (rc < 0) {
			fprintf(stderr, "osdctl: volume rm %s: %s\n", pos[0], vol_strerror(rc));
			ret = vol_exit(rc);
		} else if (!a->json) {
			printf("removed volume %s\n", pos[0]);
		} else {
			printf("{\"removed\":");
			json_str(pos[0]);
			printf("}\n");
		}
	} else if (strcmp(sub, "rename") == 0) {
		rc = tsr_volume_rename(cl, pos[0], pos[1]);
		if (rc < 0) {
			fprintf(stderr, "osdctl: volume rename %s %s: %s\n", pos[0], pos[1],
				vol_strerror(rc));
			ret = vol_exit(rc);
		} else if (!a->json) {
			printf("renamed volume %s to %s\n", pos[0], pos[1]);
		} else {
			printf("{\"name\":");
			json_str(pos[1]);
			printf("}\n");
		}
	} else if (strcmp(sub, "import") == 0) {
		ret = vol_xfer(cl, a, true, pos[0], pos[1]);
	} else {
		ret = vol_xfer(cl, a, false, pos[1], pos[0]);
	}
	tsr_cluster_shutdown(cl);
	return ret;
}

/* ------------------------------------------------------------------- bench */

static void
bench_usage(FILE *f)
{
	fprintf(f, "Usage: osdctl [-m ADDRS] bench NAME [tessera-bench OPTIONS]\n\n"
		   "Benchmark volume NAME: runs `tessera-bench --volume NAME [--mon ADDRS] "
		   "OPTIONS`\n(tessera-bench next to osdctl, else on PATH). Every option after "
		   "NAME goes to\ntessera-bench unchanged; see `tessera-bench --help`. "
		   "Examples:\n\n"
		   "  osdctl bench vm1 --rw randwrite --bs 4K --iodepth 32 --runtime 10s\n"
		   "  osdctl bench vm1 --rw randread --bs 4K --iodepth 1 --runtime 5s --json\n"
		   "  osdctl bench vm1 --rw randrw --verify --runtime 20s\n\n"
		   "The volume must exist (osdctl volume create NAME SIZE). Exit status is "
		   "tessera-bench's:\n0 ok, 1 I/O error, 2 usage or setup error, 3 verification "
		   "failed.\n");
}

int
osdctl_bench(const char *mon_opt, int argc, char **argv, int first)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	char **av;
	int n = 0;
	ssize_t len;

	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			bench_usage(stdout);
			return 0;
		}
	}
	if (first >= argc || argv[first][0] == '-') {
		fprintf(stderr, "osdctl: bench: expected a volume NAME first\n");
		bench_usage(stderr);
		return 2;
	}
	av = calloc((size_t)(argc - first) + 8, sizeof(*av));
	if (!av)
		return 1;
	av[n++] = "tessera-bench";
	av[n++] = "--volume";
	av[n++] = argv[first];
	if (mon_opt && *mon_opt) {
		av[n++] = "--mon";
		av[n++] = (char *)mon_opt;
	}
	for (int i = first + 1; i < argc; i++)
		av[n++] = argv[i];
	av[n] = NULL;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0) {
		char *slash;

		self[len] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof(path), "%s/tessera-bench", self);
			if (access(path, X_OK) == 0)
				execv(path, av);
		}
	}
	execvp("tessera-bench", av);
	fprintf(stderr, "osdctl: bench: cannot run tessera-bench (not next to osdctl nor on "
			"PATH): %s\n",
		strerror(errno));
	free(av);
	return 2;
}

int
osdctl_bench_find(int argc, char **argv, const char **mon)
{
	*mon = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-m") == 0 || strcmp(a, "--mon") == 0) {
			if (i + 1 < argc)
				*mon = argv[i + 1];
			i++;
		} else if (strncmp(a, "--mon=", 6) == 0) {
			*mon = a + 6;
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "--format") == 0 ||
			   strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0 ||
			   strcmp(a, "--config") == 0) {
			i++;
		} else if (a[0] != '-') {
			return strcmp(a, "bench") == 0 ? i : 0;
		}
	}
	return 0;
}
