/*
 * Format: geometry, superblock, empty checkpoint. Also the helpers shared by
 * format and open: opening the backend, synchronous I/O on a private or given
 * reactor, superblock validation.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "rt_log.h"
#include "st_int.h"

#define ST_MIN_JOURNAL (4ull << 20)
#define ST_MAX_JOURNAL (512ull << 20)
#define ST_MIN_PART (16ull << 20)

/*
 * On a regular file, write zeroes over the journal and the checkpoint slots
 * once: on ext4/xfs a preallocated (fallocate) range is unwritten, and the
 * first RWF_DSYNC write of each block would also commit a metadata change
 * (extent conversion), doubling the cost of durable writes during the
 * journal's first lap. Block devices need nothing.
 */
static int
st_prewrite(struct st_store *st)
{
	const uint64_t chunk = 256; /* blocks: 1 MiB */
	uint64_t end = st->sb.ckpt_blk[1] + st->sb.ckpt_blks;
	struct stat sb;
	uint8_t *z;
	int rc = 0;

	if (st->opts.backend || st->fd < 0 || fstat(st->fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		return 0;
	z = aligned_alloc(ST_BLK, chunk * ST_BLK);
	if (!z)
		return -ENOMEM;
	memset(z, 0, chunk * ST_BLK);
	for (uint64_t b = st->sb.journal_blk; b < end && rc == 0; b += chunk)
		rc = st__io_sync(st, ST_BIO_WRITE, b, z, end - b < chunk ? end - b : chunk, false);
	free(z);
	return rc;
}

void
st_opts_init(struct st_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_object_bytes = 4u << 20;
	opts->meta_bytes = 4ull << 20;
	opts->durability = ST_DUR_FUA;
	opts->journal_write_max_bytes = ST_BLK;
}

static uint64_t
st_ckpt_blks_for(uint64_t data_blks, uint64_t max_objects, uint64_t meta_bytes)
{
	uint64_t bytes = sizeof(struct st_ckpt_hdr) + max_objects * sizeof(struct st_ckpt_obj) +
			 data_blks * sizeof(struct st_ckpt_blk) + meta_bytes;

	return (bytes + ST_BLK - 1) / ST_BLK;
}

void
st__sb_compute(const struct st_opts *o, uint64_t part_bytes, struct st_sb *sb)
{
	uint64_t n = part_bytes / ST_BLK;
	uint64_t jbytes = o->journal_bytes;
	uint64_t j, rest, d, c = 0;

	memset(sb, 0, sizeof(*sb));
	if (!jbytes) {
		jbytes = part_bytes / 8;
		if (jbytes < ST_MIN_JOURNAL)
			jbytes = ST_MIN_JOURNAL;
		if (jbytes > ST_MAX_JOURNAL)
			jbytes = ST_MAX_JOURNAL;
	}
	j = jbytes / ST_BLK;
	rest = n > 1 + j ? n - 1 - j : 0;
	d = rest;
	for (int it = 0; it < 8; it++) {
		uint64_t m = o->max_objects ? o->max_objects : d;
		c = st_ckpt_blks_for(d, m, o->meta_bytes);
		d = rest > 2 * c ? rest - 2 * c : 0;
	}
	while (d > 0) {
		uint64_t m = o->max_objects ? o->max_objects : d;
		c = st_ckpt_blks_for(d, m, o->meta_bytes);
		if (d + 2 * c <= rest)
			break;
		d--;
	}
	sb->magic = ST_SB_MAGIC;
	sb->version = ST_FORMAT_VERSION;
	sb->sb_bytes = sizeof(*sb);
	sb->part_bytes = part_bytes;
	sb->block_bytes = ST_BLK;
	sb->max_object_bytes = o->max_object_bytes;
	sb->journal_blk = 1;
	sb->journal_blks = j;
	sb->ckpt_blks = c;
	sb->ckpt_blk[0] = 1 + j;
	sb->ckpt_blk[1] = 1 + j + c;
	sb->data_blk = 1 + j + 2 * c;
	sb->data_blks = d;
	sb->max_objects = o->max_objects ? o->max_objects : d;
	sb->meta_bytes = o->meta_bytes;
	sb->format_time_s = (uint64_t)time(NULL);
}

int
st__sb_check(const struct st_sb *sb)
{
	struct st_sb tmp = *sb;

	if (sb->magic != ST_SB_MAGIC)
		return -RT_EBADMAGIC;
	tmp.crc = 0;
	if (rt_crc32c(0, &tmp, sizeof(tmp)) != sb->crc)
		return -RT_EBADCRC;
	if (sb->version != ST_FORMAT_VERSION || sb->sb_bytes != sizeof(*sb))
		return -RT_EBADVERSION;
	if (sb->block_bytes != ST_BLK || sb->journal_blks < 16 || sb->data_blks == 0 ||
	    sb->max_object_bytes == 0 || sb->max_object_bytes % ST_BLK ||
	    sb->journal_blk != 1 || sb->ckpt_blk[0] != 1 + sb->journal_blks ||
	    sb->ckpt_blk[1] != sb->ckpt_blk[0] + sb->ckpt_blks ||
	    sb->data_blk != sb->ckpt_blk[1] + sb->ckpt_blks ||
	    (sb->data_blk + sb->data_blks) * ST_BLK > sb->part_bytes ||
	    sb->data_blk + sb->data_blks >= UINT32_MAX ||
	    st_ckpt_blks_for(sb->data_blks, sb->max_objects, sb->meta_bytes) > sb->ckpt_blks)
		return -RT_ECORRUPT;
	return 0;
}

static int
st_dev_size(int fd, uint64_t *size)
{
	struct stat s;

	if (fstat(fd, &s) < 0)
		return -errno;
	if (S_ISBLK(s.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, size) < 0)
			return -errno;
		return 0;
	}
	*size = (uint64_t)s.st_size;
	return 0;
}

static int
st_create_file(const struct st_opts *o)
{
	struct stat s;
	int fd, rc = 0;

	if (stat(o->path, &s) == 0 && (s.st_size > 0 || !S_ISREG(s.st_mode)))
		return 0;
	if (!o->create_size_bytes)
		return 0;
	fd = open(o->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = posix_fallocate(fd, 0, (off_t)o->create_size_bytes);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(fd, (off_t)o->create_size_bytes) < 0 ? errno : 0;
	if (rc == 0 && fsync(fd) < 0)
		rc = errno;
	close(fd);
	return -rc;
}

int
st__open_backend(const struct st_opts *opts, struct rt_reactor *r, const struct st_backend_ops **be,
		 void **bctx, void **uring_be, int *fd, uint64_t *size_bytes)
{
	int rc;

	*uring_be = NULL;
	*fd = -1;
	if (opts->backend) {
		*be = opts->backend;
		*bctx = opts->backend_ctx;
		*size_bytes = opts->backend_size_bytes;
		return 0;
	}
	if (!opts->path)
		return -EINVAL;
	rc = st__uring_backend_open(opts->path, !opts->no_direct, r, fd, bctx);
	if (rc < 0)
		return rc;
	*be = st__uring_backend_ops();
	*uring_be = *bctx;
	rc = st_dev_size(*fd, size_bytes);
	if (rc < 0) {
		(*be)->close(*bctx);
		*fd = -1;
		*uring_be = NULL;
	}
	return rc;
}

static void
st_sync_bio_done(struct st_bio *bio, int res)
{
	int *out = bio->ctx;

	*out = res;
}

int
st__run_until(struct st_store *st, volatile bool *done)
{
	uint64_t deadline = rt_now_us() + 300ull * 1000 * 1000;

	while (!*done) {
		int rc = rt_reactor_run_once(st->r, 10000);

		if (rc < 0)
			return rc;
		if (rt_now_us() > deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

int
st__bio_submit(struct st_store *st, struct st_bio *bio)
{
	bio->offset_bytes += st->opts.offset_bytes;
	return st->be->submit(st->bctx, bio);
}

/* Synchronous I/O (control path): blk is partition relative. */
int
st__io_sync(struct st_store *st, enum st_bio_op op, uint64_t blk, void *buf, uint64_t nblks,
	    bool fua)
{
	struct st_bio bio;
	int res = INT32_MIN, rc;
	uint64_t done_blks = 0;

	do {
		uint64_t n = nblks - done_blks;

		if (n > 8192)
			n = 8192;
		memset(&bio, 0, sizeof(bio));
		bio.op = op;
		bio.fua = fua;
		bio.offset_bytes = (blk + done_blks) * ST_BLK;
		bio.len_bytes = (uint32_t)(n * ST_BLK);
		bio.buf = buf ? (uint8_t *)buf + done_blks * ST_BLK : NULL;
		bio.cb = st_sync_bio_done;
		bio.ctx = &res;
		res = INT32_MIN;
		rc = st__bio_submit(st, &bio);
		if (rc < 0)
			return rc;
		while (res == INT32_MIN) {
			rc = rt_reactor_run_once(st->r, 10000);
			if (rc < 0)
				return rc;
		}
		if (res < 0)
			return res;
		done_blks += n;
	} while (done_blks < nblks);
	return 0;
}

/* Serialize an empty checkpoint of generation gen into buf (one block). */
static void
st_ckpt_empty(const struct st_sb *sb, uint64_t gen, void *buf)
{
	struct st_ckpt_hdr *h = buf;

	memset(buf, 0, ST_BLK);
	h->magic = ST_CKPT_MAGIC;
	h->version = ST_FORMAT_VERSION;
	h->hdr_bytes = sizeof(*h);
	memcpy(h->uuid, sb->uuid, 16);
	h->gen = gen;
	h->journal_gen = gen;
	h->journal_head = 0;
	h->journal_seq = 1;
	h->used_bytes = sizeof(*h);
	h->crc = rt_crc32c(0, h, sizeof(*h));
}

int
st_format(const struct st_opts *opts)
{
	struct st_store st;
	struct rt_reactor *priv_r = NULL;
	struct rt_reactor_opts ro;
	uint64_t size = 0, part;
	uint8_t *buf = NULL;
	int rc;

	if (!opts || opts->offset_bytes % ST_BLK || opts->length_bytes % ST_BLK ||
	    !opts->max_object_bytes || opts->max_object_bytes % ST_BLK ||
	    opts->max_object_bytes > (64u << 20) || opts->journal_bytes % ST_BLK ||
	    opts->meta_bytes % 8)
		return -EINVAL;
	if (!opts->backend && opts->path && opts->create) {
		rc = st_create_file(opts);
		if (rc < 0)
			return rc;
	}
	memset(&st, 0, sizeof(st));
	st.opts = *opts;
	rt_reactor_opts_init(&ro);
	ro.name = "st-format";
	ro.ring_entries = 64;
	if (opts->backend) {
		/* The test backend defers to its own reactor: use that one. */
		st.r = opts->backend_reactor;
		if (!st.r)
			return -EINVAL;
	} else {
		rc = rt_reactor_create(&ro, &priv_r);
		if (rc < 0)
			return rc;
		st.r = priv_r;
	}
	rc = st__open_backend(opts, st.r, &st.be, &st.bctx, &st.uring_be, &st.fd, &size);
	if (rc < 0)
		goto out_reactor;
	if (size <= opts->offset_bytes) {
		rc = -EINVAL;
		goto out_backend;
	}
	part = opts->length_bytes ? opts->length_bytes : size - opts->offset_bytes;
	if (opts->offset_bytes + part > size) {
		rc = -EINVAL;
		goto out_backend;
	}
	part -= part % ST_BLK;
	if (part < ST_MIN_PART) {
		rt_err(RT_SS_STORE, "format: partition of %llu bytes is below the minimum %llu",
		       (unsigned long long)part, (unsigned long long)ST_MIN_PART);
		rc = -ENOSPC;
		goto out_backend;
	}
	st__sb_compute(opts, part, &st.sb);
	if (st.sb.data_blks < 64 || st.sb.data_blk + st.sb.data_blks >= UINT32_MAX) {
		rc = st.sb.data_blks < 64 ? -ENOSPC : -EINVAL;
		goto out_backend;
	}
	if (getrandom(st.sb.uuid, sizeof(st.sb.uuid), 0) != sizeof(st.sb.uuid)) {
		rc = -EIO;
		goto out_backend;
	}
	st.sb.crc = rt_crc32c(0, &st.sb, sizeof(st.sb));
	buf = aligned_alloc(ST_BLK, ST_BLK);
	if (!buf) {
		rc = -ENOMEM;
		goto out_backend;
	}
	rc = st_prewrite(&st);
	if (rc < 0)
		goto out_buf;
	/* Invalidate both checkpoint slots, then write the empty gen-1 one. */
	memset(buf, 0, ST_BLK);
	rc = st__io_sync(&st, ST_BIO_WRITE, st.sb.ckpt_blk[0], buf, 1, false);
	if (rc < 0)
		goto out_buf;
	st_ckpt_empty(&st.sb, 1, buf);
	rc = st__io_sync(&st, ST_BIO_WRITE, st.sb.ckpt_blk[1], buf, 1, false);
	if (rc < 0)
		goto out_buf;
	/* Invalidate the first journal block (cosmetic: uuid already differs). */
	memset(buf, 0, ST_BLK);
	rc = st__io_sync(&st, ST_BIO_WRITE, st.sb.journal_blk, buf, 1, false);
	if (rc < 0)
		goto out_buf;
	rc = st__io_sync(&st, ST_BIO_FLUSH, 0, NULL, 0, false);
	if (rc < 0)
		goto out_buf;
	/* The superblock last: a store is valid only once everything else is. */
	memcpy(buf, &st.sb, sizeof(st.sb));
	rc = st__io_sync(&st, ST_BIO_WRITE, 0, buf, 1, false);
	if (rc < 0)
		goto out_buf;
	rc = st__io_sync(&st, ST_BIO_FLUSH, 0, NULL, 0, false);
	if (rc == 0)
		rt_info(RT_SS_STORE,
			"formatted %s: %llu data blocks, journal %llu blocks, checkpoint %llu blocks",
			opts->path ? opts->path : "(backend)", (unsigned long long)st.sb.data_blks,
			(unsigned long long)st.sb.journal_blks, (unsigned long long)st.sb.ckpt_blks);
out_buf:
	free(buf);
out_backend:
	st.be->close(st.bctx);
out_reactor:
	if (priv_r)
		rt_reactor_destroy(&priv_r);
	return rc;
}
