/*
 * libstore unit tests: format/superblock, allocator, index, journal (wrap,
 * replay, CRC stop), read/write paths, checksums, ENOSPC, discard and
 * write-zeroes, metadata, versions, list.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt_crc.h"
#include "rt_err.h"
#include "st_int.h"
#include "test_util.h"

static char g_dir[256];
static char g_path[300];
static struct rt_reactor *g_r;

static void
setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(g_dir, sizeof(g_dir), "%s/tessera-st-XXXXXX", t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(g_dir));
	snprintf(g_path, sizeof(g_path), "%s/store", g_dir);
	g_r = tu_reactor();
}

static void
teardown(void)
{
	unlink(g_path);
	rmdir(g_dir);
	rt_reactor_destroy(&g_r);
}

static void
mk_opts(struct st_opts *o, uint64_t size)
{
	st_opts_init(o);
	o->path = g_path;
	o->create = true;
	o->create_size_bytes = size;
	o->durability = ST_DUR_BATCH_FLUSH;
}

static struct st_store *
fmt_open(uint64_t size)
{
	struct st_opts o;
	struct st_store *st = NULL;

	mk_opts(&o, size);
	ck_assert_int_eq(st_format(&o), 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	return st;
}

static struct st_store *
reopen(struct st_store **stp)
{
	struct st_opts o;
	struct st_store *st = NULL;

	ck_assert_int_eq(st_close(stp), 0);
	mk_opts(&o, 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	return st;
}

static void
patch_file(off_t off, const void *p, size_t len)
{
	int fd = open(g_path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, p, len, off), (ssize_t)len);
	fsync(fd);
	close(fd);
}

static void
read_file(off_t off, void *p, size_t len)
{
	int fd = open(g_path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, p, len, off), (ssize_t)len);
	close(fd);
}

START_TEST(test_format_superblock)
{
	struct st_opts o;
	struct st_store *st = NULL;
	struct st_sb sb, bad;

	mk_opts(&o, 32 << 20);
	ck_assert_int_eq(st_format(&o), 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	ck_assert_int_eq(st_close(&st), 0);
	ck_assert_ptr_null(st);
	read_file(0, &sb, sizeof(sb));

	bad = sb;
	bad.magic ^= 1;
	patch_file(0, &bad, sizeof(bad));
	ck_assert_int_eq(st_open(&o, g_r, &st), -RT_EBADMAGIC);

	bad = sb;
	bad.data_blks++; /* without fixing the CRC */
	patch_file(0, &bad, sizeof(bad));
	ck_assert_int_eq(st_open(&o, g_r, &st), -RT_EBADCRC);

	bad = sb;
	bad.version = 99;
	bad.crc = 0;
	bad.crc = rt_crc32c(0, &bad, sizeof(bad));
	patch_file(0, &bad, sizeof(bad));
	ck_assert_int_eq(st_open(&o, g_r, &st), -RT_EBADVERSION);

	bad = sb;
	bad.data_blks = 1ull << 40; /* geometry beyond the partition */
	bad.crc = 0;
	bad.crc = rt_crc32c(0, &bad, sizeof(bad));
	patch_file(0, &bad, sizeof(bad));
	ck_assert_int_eq(st_open(&o, g_r, &st), -RT_ECORRUPT);

	patch_file(0, &sb, sizeof(sb));
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	ck_assert_int_eq(st_close(&st), 0);

	/* Both checkpoint slots destroyed: refused, not crashed. */
	uint8_t z[4096] = {0};
	patch_file((off_t)sb.ckpt_blk[0] * 4096, z, sizeof(z));
	patch_file((off_t)sb.ckpt_blk[1] * 4096, z, sizeof(z));
	ck_assert_int_eq(st_open(&o, g_r, &st), -RT_ECORRUPT);

	/* Bad geometry and too small partitions. */
	o.max_object_bytes = 1000;
	ck_assert_int_eq(st_format(&o), -EINVAL);
	mk_opts(&o, 0);
	o.length_bytes = 1 << 20;
	ck_assert_int_eq(st_format(&o), -ENOSPC);
}
END_TEST

START_TEST(test_alloc)
{
	struct st_alloc a;
	uint32_t out[100];

	ck_assert_int_eq(st__alloc_init(&a, 1000, 100), 0);
	ck_assert_int_eq(st__alloc_get(&a, 10, out), 0);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(out[i], 1000 + (uint32_t)i); /* contiguous */
	ck_assert_uint_eq(a.free_blks, 90);
	ck_assert_int_eq(st__alloc_get(&a, 90, out), 0);
	ck_assert_uint_eq(a.free_blks, 0);
	ck_assert_int_eq(st__alloc_get(&a, 1, out), -ENOSPC);
	/* Fragment: free every other block. */
	for (uint32_t b = 1000; b < 1100; b += 2)
		st__alloc_put_now(&a, b);
	ck_assert_uint_eq(a.free_blks, 50);
	ck_assert_int_eq(st__alloc_get(&a, 50, out), 0);
	for (int i = 0; i < 50; i++)
		ck_assert_uint_eq(out[i] % 2, 0);
	ck_assert_int_eq(st__alloc_get(&a, 1, out), -ENOSPC);
	/* Deferred frees wait for reads that started before them. */
	uint32_t e = st__alloc_read_begin(&a);
	st__alloc_put_deferred(&a, 1001);
	ck_assert_uint_eq(a.free_blks, 0);
	st__alloc_read_end(&a, e);
	ck_assert_uint_eq(a.free_blks, 1);
	ck_assert_int_eq(st__alloc_get(&a, 1, out), 0);
	ck_assert_uint_eq(out[0], 1001);
	st__alloc_fini(&a);
}
END_TEST

START_TEST(test_index)
{
	struct st_index ix;

	ck_assert_int_eq(st__index_init(&ix, 5000, 20000), 0);
	for (uint32_t i = 0; i < 5000; i++) {
		struct st_obj *o = st__obj_get(&ix, i % 3, i);
		ck_assert_ptr_nonnull(o);
		o->version = i * 7;
		for (uint32_t l = 0; l < 4; l++) {
			struct st_bent *b = st__blk_get(&ix, i % 3, i, l);
			ck_assert_ptr_nonnull(b);
			b->home = b->cur = i * 4 + l;
		}
	}
	ck_assert_uint_eq(ix.n_objs, 5000);
	ck_assert_uint_eq(ix.n_blks, 20000);
	for (uint32_t i = 0; i < 5000; i += 2) {
		st__obj_del(&ix, st__obj_find(&ix, i % 3, i));
		st__blk_del(&ix, st__blk_find(&ix, i % 3, i, 1));
	}
	for (uint32_t i = 0; i < 5000; i++) {
		struct st_obj *o = st__obj_find(&ix, i % 3, i);
		struct st_bent *b = st__blk_find(&ix, i % 3, i, 1);
		if (i % 2 == 0) {
			ck_assert_ptr_null(o);
			ck_assert_ptr_null(b);
		} else {
			ck_assert_ptr_nonnull(o);
			ck_assert_uint_eq(o->version, i * 7);
			ck_assert_uint_eq(b->home, i * 4 + 1);
		}
		b = st__blk_find(&ix, i % 3, i, 3);
		ck_assert_ptr_nonnull(b);
		ck_assert_uint_eq(b->cur, i * 4 + 3);
	}
	ck_assert_ptr_null(st__obj_find(&ix, 1, 1u << 30));
	st__index_fini(&ix);
}
END_TEST

START_TEST(test_rw_versions_reopen)
{
	struct st_store *st = fmt_open(64 << 20);
	struct st_obj_id a = {1, 42}, b = {2, 42};
	uint8_t *buf = tu_buf(256 << 10), *rb = tu_buf(256 << 10);
	uint64_t ver = 0;
	struct st_stats s;

	/* Small (journal) write and a 128 KiB redirect-on-write write. */
	tu_fill(buf, 42, 3, 1);
	ck_assert_int_eq(st_sync_write(st, a, 3 * 4096, 4096, buf, 10), 0);
	for (int i = 0; i < 32; i++)
		tu_fill(buf + i * 4096, 42, 100 + (uint64_t)i, 2);
	ck_assert_int_eq(st_sync_write(st, b, 100 * 4096, 32 * 4096, buf, 11), 0);
	st_get_stats(st, &s);
	ck_assert_uint_eq(s.journal_small_writes, 1);
	ck_assert_uint_eq(s.row_writes, 1);

	ck_assert_int_eq(st_sync_read(st, a, 0, 8 * 4096, rb, &ver), 0);
	ck_assert_uint_eq(ver, 10);
	ck_assert_int_eq(tu_check(rb + 3 * 4096, 42, 3, 1), 0);
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 4096; k++)
			ck_assert_uint_eq(rb[i * 4096 + k], 0);
	ck_assert_int_eq(st_sync_read(st, b, 100 * 4096, 32 * 4096, rb, &ver), 0);
	ck_assert_uint_eq(ver, 11);
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(tu_check(rb + i * 4096, 42, 100 + (uint64_t)i, 2), 0);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 43}, 0, 4096, rb, NULL), -ENOENT);

	/* Argument errors come back from st_submit itself. */
	ck_assert_int_eq(st_sync_write(st, a, 100, 4096, buf, 1), -EINVAL);
	ck_assert_int_eq(st_sync_write(st, a, 4 << 20, 4096, buf, 1), -EINVAL);
	ck_assert_int_eq(st_sync_write(st, a, 0, 4096, buf + 1, 1), -EINVAL);
	ck_assert_int_eq(st_sync_flush(st), 0);

	st = reopen(&st);
	ck_assert_int_eq(st_sync_read(st, a, 3 * 4096, 4096, rb, &ver), 0);
	ck_assert_uint_eq(ver, 10);
	ck_assert_int_eq(tu_check(rb, 42, 3, 1), 0);
	ck_assert_int_eq(st_sync_read(st, b, 100 * 4096, 32 * 4096, rb, &ver), 0);
	for (int i = 0; i < 32; i++)
		ck_assert_int_eq(tu_check(rb + i * 4096, 42, 100 + (uint64_t)i, 2), 0);

	/* Overwrite part of the RoW range with a small write, then delete. */
	tu_fill(buf, 42, 105, 3);
	ck_assert_int_eq(st_sync_write(st, b, 105 * 4096, 4096, buf, 12), 0);
	ck_assert_int_eq(st_sync_read(st, b, 104 * 4096, 3 * 4096, rb, &ver), 0);
	ck_assert_int_eq(tu_check(rb, 42, 104, 2), 0);
	ck_assert_int_eq(tu_check(rb + 4096, 42, 105, 3), 0);
	ck_assert_int_eq(tu_check(rb + 8192, 42, 106, 2), 0);
	ck_assert_uint_eq(ver, 12);
	ck_assert_int_eq(st_sync_delete(st, a, 13), 0);
	ck_assert_int_eq(st_sync_delete(st, a, 13), -ENOENT);
	st = reopen(&st);
	ck_assert_int_eq(st_sync_read(st, a, 0, 4096, rb, NULL), -ENOENT);
	ck_assert_int_eq(st_sync_read(st, b, 105 * 4096, 4096, rb, NULL), 0);
	ck_assert_int_eq(tu_check(rb, 42, 105, 3), 0);
	ck_assert_int_eq(st_close(&st), 0);
	free(buf);
	free(rb);
}
END_TEST

START_TEST(test_checksum)
{
	struct st_store *st = fmt_open(32 << 20);
	struct st_obj_id a = {7, 9};
	uint8_t *buf = tu_buf(8192), *scan = tu_buf(1 << 20);
	struct st_stats s;
	off_t found = -1;

	tu_fill(buf, 0xabcdef, 77, 5);
	ck_assert_int_eq(st_sync_write(st, a, 0, 4096, buf, 1), 0);
	ck_assert_int_eq(st_close(&st), 0);
	/* Find the block's home copy (past the journal) and corrupt one byte. */
	struct st_sb sb;
	read_file(0, &sb, sizeof(sb));
	int fd = open(g_path, O_RDWR);
	for (off_t off = (off_t)sb.data_blk * 4096; found < 0 && off < (off_t)(32 << 20);
	     off += 1 << 20) {
		ssize_t n = pread(fd, scan, 1 << 20, off);
		for (ssize_t k = 0; k + 4096 <= n; k += 4096)
			if (memcmp(scan + k, buf, 4096) == 0) {
				found = off + k;
				break;
			}
	}
	close(fd);
	ck_assert_int_ge(found, 0);
	uint8_t x = buf[100] ^ 0xff;
	patch_file(found + 100, &x, 1);

	struct st_opts o;
	mk_opts(&o, 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	ck_assert_int_eq(st_sync_read(st, a, 0, 4096, buf, NULL), -EIO);
	st_get_stats(st, &s);
	ck_assert_uint_eq(s.csum_errors, 1);
	/* A rewrite heals it. */
	tu_fill(buf, 1, 1, 1);
	ck_assert_int_eq(st_sync_write(st, a, 0, 4096, buf, 2), 0);
	ck_assert_int_eq(st_sync_read(st, a, 0, 4096, buf, NULL), 0);
	ck_assert_int_eq(tu_check(buf, 1, 1, 1), 0);
	ck_assert_int_eq(st_close(&st), 0);
	free(buf);
	free(scan);
}
END_TEST

START_TEST(test_enospc_discard)
{
	/* 32 MiB: about 5000 data blocks, so objects 1:0..1:3 fill up entirely. */
	struct st_store *st = fmt_open(32 << 20);
	uint8_t *buf = tu_buf(128 << 10), *rb = tu_buf(128 << 10);
	struct st_statfs fs0, fs1, fs2;
	uint64_t n = 0;
	int rc = 0;

	st_statfs(st, &fs0);
	ck_assert_uint_eq(fs0.used_bytes, 0);
	for (int i = 0; i < 32; i++)
		tu_fill(buf + i * 4096, 5, (uint64_t)i, 1);
	for (n = 0; n < 100000; n++) {
		struct st_obj_id o = {1, n / 32};
		rc = st_sync_write(st, o, (n % 32) * (128 << 10), 128 << 10, buf, n + 1);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	ck_assert_uint_gt(n, 10);
	/* Top up with small writes until truly full. */
	for (uint64_t k = 0; k < 1024; k++) {
		rc = st_sync_write(st, (struct st_obj_id){8, 0}, k * 4096, 4096, buf, 1);
		if (rc)
			break;
	}
	ck_assert_int_eq(rc, -ENOSPC);
	st_statfs(st, &fs1);
	ck_assert_uint_eq(fs1.free_bytes, 0);
	ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){9, 9}, 0, 4096, buf, 1), -ENOSPC);
	ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){9, 9}, 0, 128 << 10, buf, 1), -ENOSPC);
	/* Reads, overwrites in place (small and large) still work. */
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 0}, 0, 128 << 10, rb, NULL), 0);
	ck_assert_int_eq(memcmp(rb, buf, 128 << 10), 0);
	tu_fill(buf, 5, 0, 2);
	ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){1, 0}, 0, 4096, buf, 99), 0);
	ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){1, 0}, 0, 128 << 10, buf, 100), 0);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 0}, 0, 128 << 10, rb, NULL), 0);
	ck_assert_int_eq(memcmp(rb, buf, 128 << 10), 0);
	ck_assert_int_eq(st_sync_checkpoint(st), 0);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 0}, 0, 128 << 10, rb, NULL), 0);
	ck_assert_int_eq(memcmp(rb, buf, 128 << 10), 0);
	/* Delete frees; discard frees. */
	ck_assert_int_eq(st_sync_delete(st, (struct st_obj_id){1, 1}, 1), 0);
	ck_assert_int_eq(st_sync_discard(st, (struct st_obj_id){1, 2}, 0, 2 << 20, 1), 0);
	ck_assert_int_eq(st_sync_write_zeroes(st, (struct st_obj_id){1, 3}, 0, 1 << 20, 1), 0);
	st_statfs(st, &fs2);
	ck_assert_uint_ge(fs2.free_bytes, fs1.free_bytes + (4ull << 20) + (2ull << 20) + (1 << 20));
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 2}, 0, 128 << 10, rb, NULL), 0);
	for (int k = 0; k < (128 << 10); k++)
		ck_assert_uint_eq(rb[k], 0);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 3}, 1 << 20, 128 << 10, rb, NULL), 0);
	ck_assert_int_eq(tu_check(rb, 5, 0, 1), 0);
	ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){9, 9}, 0, 128 << 10, buf, 1), 0);
	/* Space accounting survives a reopen. */
	st_statfs(st, &fs1);
	st = reopen(&st);
	st_statfs(st, &fs2);
	ck_assert_uint_eq(fs1.used_bytes, fs2.used_bytes);
	ck_assert_int_eq(st_close(&st), 0);
	free(buf);
	free(rb);
}
END_TEST

START_TEST(test_meta)
{
	struct st_store *st = fmt_open(32 << 20);
	char big[ST_META_VAL_MAX];
	char out[128];

	memset(big, 'x', sizeof(big));
	ck_assert_int_eq(st_sync_meta_set(st, "pg/1.0/info", 11, "hello", 5), 0);
	ck_assert_int_eq(st_sync_meta_set(st, "pg/1.0/log", 10, big, sizeof(big)), 0);
	ck_assert_int_eq(st_meta_get(st, "pg/1.0/info", 11, out, sizeof(out)), 5);
	ck_assert_int_eq(memcmp(out, "hello", 5), 0);
	ck_assert_int_eq(st_sync_meta_set(st, "pg/1.0/info", 11, "world!", 6), 0);
	ck_assert_int_eq(st_meta_get(st, "pg/1.0/info", 11, out, sizeof(out)), 6);
	ck_assert_int_eq(st_meta_get(st, "nope", 4, out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(st_sync_meta_del(st, "nope", 4), -ENOENT);
	ck_assert_int_eq(st_sync_meta_set(st, "", 0, "a", 1), -EINVAL);
	ck_assert_int_eq(st_sync_meta_set(st, "k", 1, big, ST_META_VAL_MAX + 1), -EINVAL);
	for (int i = 0; i < 200; i++) {
		char k[32];
		int kl = snprintf(k, sizeof(k), "key%d", i);
		ck_assert_int_eq(st_sync_meta_set(st, k, (uint32_t)kl, k, (uint32_t)kl), 0);
	}
	ck_assert_int_eq(st_sync_meta_del(st, "key7", 4), 0);
	st = reopen(&st);
	ck_assert_int_eq(st_meta_get(st, "pg/1.0/info", 11, out, sizeof(out)), 6);
	ck_assert_int_eq(memcmp(out, "world!", 6), 0);
	ck_assert_int_eq(st_meta_get(st, "pg/1.0/log", 10, NULL, 0), ST_META_VAL_MAX);
	ck_assert_int_eq(st_meta_get(st, "key7", 4, out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(st_meta_get(st, "key199", 6, out, sizeof(out)), 6);
	ck_assert_int_eq(memcmp(out, "key199", 6), 0);
	ck_assert_int_eq(st_close(&st), 0);
}
END_TEST

START_TEST(test_list)
{
	struct st_store *st = fmt_open(64 << 20);
	uint8_t *buf = tu_buf(4096);
	struct st_obj_info out[7];
	struct st_list_cursor cur = {.first = true};
	int n, total = 0;

	memset(buf, 1, 4096);
	for (uint64_t i = 0; i < 300; i++) {
		uint64_t oid = (i * 7919) % 1000;
		ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){(uint32_t)(i % 2), oid}, 0, 4096,
					       buf, 1000 + oid),
				 0);
	}
	struct st_obj_id last = {0, 0};
	while ((n = st_list(st, UINT32_MAX, &cur, out, 7)) > 0) {
		for (int i = 0; i < n; i++) {
			if (total > 0)
				ck_assert(out[i].obj.pool > last.pool ||
					  (out[i].obj.pool == last.pool && out[i].obj.oid > last.oid));
			ck_assert_uint_eq(out[i].version, 1000 + out[i].obj.oid);
			ck_assert_uint_eq(out[i].mapped_bytes, 4096);
			last = out[i].obj;
			total++;
		}
	}
	ck_assert_int_eq(total, 300);
	cur = (struct st_list_cursor){.first = true};
	total = 0;
	while ((n = st_list(st, 1, &cur, out, 7)) > 0) {
		for (int i = 0; i < n; i++)
			ck_assert_uint_eq(out[i].obj.pool, 1);
		total += n;
	}
	ck_assert_int_eq(total, 150);
	struct st_obj_info inf;
	ck_assert_int_eq(st_object_stat(st, (struct st_obj_id){0, 0}, &inf), 0);
	ck_assert_uint_eq(inf.version, 1000);
	ck_assert_int_eq(st_close(&st), 0);
	free(buf);
}
END_TEST

START_TEST(test_journal_wrap)
{
	struct st_opts o;
	struct st_store *st = NULL;
	uint8_t *buf = tu_buf(4096), *rb = tu_buf(4096);
	struct st_stats s;

	mk_opts(&o, 32 << 20);
	o.journal_bytes = 4 << 20;
	o.durability = ST_DUR_NONE; /* fast; durability is not what is tested */
	ck_assert_int_eq(st_format(&o), 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	/* 3000 small writes of 8 KiB records each: ~6 laps of a 4 MiB journal. */
	for (uint64_t i = 0; i < 3000; i++) {
		tu_fill(buf, i % 50, i % 64, i);
		ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){3, i % 50}, (i % 64) * 4096,
					       4096, buf, i),
				 0);
	}
	st_get_stats(st, &s);
	ck_assert_uint_ge(s.checkpoints, 3);
	ck_assert_uint_ge(s.journal_bytes, 3ull * (4 << 20));
	st = reopen(&st);
	for (uint64_t i = 3000 - 3200 % 3200; i < 3000; i++) {
		/* The last write of each (object, block) pair wins. */
		if (i + 50 * 64 < 3000)
			continue;
		bool newest = true;
		for (uint64_t j = i + 1; j < 3000; j++)
			if (j % 50 == i % 50 && j % 64 == i % 64)
				newest = false;
		if (!newest)
			continue;
		ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){3, i % 50}, (i % 64) * 4096,
					      4096, rb, NULL),
				 0);
		ck_assert_int_eq(tu_check(rb, i % 50, i % 64, i), 0);
	}
	ck_assert_int_eq(st_close(&st), 0);
	free(buf);
	free(rb);
}
END_TEST

/* Journal replay and the CRC stop, on the in-memory backend. */
/* A deletion flags exactly the moves that cross a checkpoint's scan position. */
START_TEST(test_index_scan_moves)
{
	struct st_index ix;
	uint64_t *slot_before;
	uint32_t n = 1900, flagged = 0;
	uint64_t rng = 42;

	ck_assert_int_eq(st__index_init(&ix, 100, 100), 0);
	ck_assert_uint_eq(ix.blk_cap, 2048);
	slot_before = calloc(n, sizeof(*slot_before));
	ck_assert_ptr_nonnull(slot_before);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_ptr_nonnull(st__blk_get(&ix, 1, i / 16, i % 16));
	ix.scan_on[1] = true;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (uint32_t)((k * 7919u) % n); /* a permutation */
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		ix.scan_cur[1] = (rng >> 33) % ix.blk_cap;
		ix.scan_moved = false;
		for (uint32_t m = 0; m < n; m++) {
			struct st_bent *b = st__blk_find(&ix, 1, m / 16, m % 16);
			slot_before[m] = b ? (uint64_t)(b - ix.blks) : UINT64_MAX;
		}
		st__blk_del(&ix, st__blk_find(&ix, 1, i / 16, i % 16));
		bool crossed = false;
		for (uint32_t m = 0; m < n; m++) {
			struct st_bent *b = st__blk_find(&ix, 1, m / 16, m % 16);
			if (!b || slot_before[m] == UINT64_MAX)
				continue;
			uint64_t now = (uint64_t)(b - ix.blks);
			if ((now >= ix.scan_cur[1]) != (slot_before[m] >= ix.scan_cur[1]))
				crossed = true;
		}
		ck_assert_int_eq(crossed, ix.scan_moved);
		flagged += crossed;
	}
	ck_assert_uint_gt(flagged, 0);
	free(slot_before);
	st__index_fini(&ix);
}
END_TEST

static void
tst_ck_cb(struct st_req *req, int rc)
{
	int *out = req->ctx;

	*out = rc;
}

/*
 * A background checkpoint serialising a dense index in tiny steps while
 * discards and writes go on (deletions move hash entries under its scan: it
 * restarts), then a power cut right after it: the store recovers from that
 * fuzzy checkpoint plus the journal, with every acknowledged write intact.
 */
START_TEST(test_ckpt_background_churn)
{
	enum { NOBJ = 40, NB = 64 };
	struct st_membackend *mb = NULL;
	struct st_opts o;
	struct st_store *st = NULL;
	uint8_t *buf = tu_buf(NB * 4096);
	static uint64_t gen[NOBJ][NB];
	uint64_t g = 0, rng = 7, restarts = 0;
	uint32_t ckpts = 0;

	memset(gen, 0, sizeof(gen));
	ck_assert_int_eq(st_membackend_create(g_r, 32 << 20, &mb), 0);
	st_opts_init(&o);
	o.backend = st_membackend_ops();
	o.backend_ctx = mb;
	o.backend_size_bytes = 32 << 20;
	o.backend_reactor = g_r;
	o.journal_bytes = 8 << 20;
	o.durability = ST_DUR_BATCH_FLUSH;
	ck_assert_int_eq(st_format(&o), 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	for (uint64_t ob = 0; ob < NOBJ; ob++) {
		g++;
		for (uint32_t b = 0; b < NB; b++) {
			tu_fill(buf + (uint64_t)b * 4096, ob, b, g);
			gen[ob][b] = g;
		}
		ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){1, ob}, 0, NB * 4096, buf, g), 0);
	}
	for (int round = 0; round < 4; round++) {
		struct st_req req;
		int res = INT32_MIN;

		memset(&req, 0, sizeof(req));
		req.ctx = &res;
		st->ck_scan_slots = 8u << round;
		ck_assert_int_eq(st_checkpoint(st, tst_ck_cb, &req), 0);
		for (int i = 0; i < 200000 && res == INT32_MIN; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t ob = (rng >> 33) % NOBJ;
			uint32_t b = (uint32_t)((rng >> 20) % (NB - 4));
			g++;
			/* The table is too sparse here for deletions to move entries
			 * across the scan often: pretend they did (restart path). */
			if (round >= 2 && (st->idx.scan_on[0] || st->idx.scan_on[1]) &&
			    (rng >> 40) % 64 == 0)
				st->idx.scan_moved = true;
			if ((rng >> 10) % 3 == 0) {
				ck_assert_int_eq(st_sync_discard(st, (struct st_obj_id){1, ob},
								 (uint64_t)b * 4096, 4 * 4096, g), 0);
				for (uint32_t k = 0; k < 4; k++)
					gen[ob][b + k] = 0;
			} else {
				tu_fill(buf, ob, b, g);
				ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){1, ob},
							       (uint64_t)b * 4096, 4096, buf, g), 0);
				gen[ob][b] = g;
			}
		}
		ck_assert_int_eq(res, 0);
		ckpts++;
	}
	restarts = st->ck_ser_restarts_total;
	/* Power cut right after the last checkpoint: everything acknowledged is
	 * durable, recovery starts from that (fuzzy) checkpoint. */
	ck_assert_int_eq(st_sync_flush(st), 0);
	st_membackend_powercut(mb, 3);
	ck_assert_int_lt(st_close(&st), 0);
	st_membackend_restore(mb);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	for (uint64_t ob = 0; ob < NOBJ; ob++) {
		ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, ob}, 0, NB * 4096, buf, NULL), 0);
		for (uint32_t b = 0; b < NB; b++) {
			const uint8_t *p = buf + (uint64_t)b * 4096;
			if (gen[ob][b])
				ck_assert_int_eq(tu_check(p, ob, b, gen[ob][b]), 0);
			else
				ck_assert_int_eq(p[0] | p[4095], 0);
		}
	}
	fprintf(stderr, "background checkpoint churn: %u checkpoints, %llu serialisation restarts\n",
		ckpts, (unsigned long long)restarts);
	ck_assert_uint_gt(restarts, 0);
	ck_assert_int_eq(st_close(&st), 0);
	st_membackend_destroy(&mb);
	free(buf);
}
END_TEST

/* A redirect-on-write write whose data write fails: -EIO, the old data stays,
 * and its blocks come back (at once or after the next checkpoint). */
START_TEST(test_row_write_error_frees)
{
	struct st_membackend *mb = NULL;
	struct st_opts o;
	struct st_store *st = NULL;
	struct st_statfs before, after;
	struct st_stats ss;
	uint8_t *buf = tu_buf(64 * 4096);
	struct st_obj_id id = {1, 9};

	ck_assert_int_eq(st_membackend_create(g_r, 32 << 20, &mb), 0);
	st_opts_init(&o);
	o.backend = st_membackend_ops();
	o.backend_ctx = mb;
	o.backend_size_bytes = 32 << 20;
	o.backend_reactor = g_r;
	o.durability = ST_DUR_BATCH_FLUSH;
	ck_assert_int_eq(st_format(&o), 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	for (uint32_t b = 0; b < 64; b++)
		tu_fill(buf + (uint64_t)b * 4096, 9, b, 1);
	ck_assert_int_eq(st_sync_write(st, id, 0, 64 * 4096, buf, 1), 0);
	st_statfs(st, &before);
	for (int round = 0; round < 20; round++) {
		for (uint32_t b = 0; b < 64; b++)
			tu_fill(buf + (uint64_t)b * 4096, 9, b, 2);
		st_membackend_fail_writes(mb, st->sb.data_blk, st->sb.data_blks, -EIO);
		ck_assert_int_eq(st_sync_write(st, id, 0, 64 * 4096, buf, 2), -EIO);
		st_membackend_fail_writes(mb, 0, 0, 0);
		ck_assert_int_eq(st_sync_read(st, id, 0, 64 * 4096, buf, NULL), 0);
		for (uint32_t b = 0; b < 64; b++)
			ck_assert_int_eq(tu_check(buf + (uint64_t)b * 4096, 9, b, 1), 0);
	}
	/* The failing write's record has not gone out yet (another is being
	 * flushed): its entry is taken out and the blocks come back at once. */
	{
		struct st_req r1, r2;
		int rc1 = INT32_MIN, rc2 = INT32_MIN;
		uint8_t *b1 = tu_buf(4096);

		ck_assert_int_eq(st_sync_checkpoint(st), 0);
		st_statfs(st, &before);
		memset(&r1, 0, sizeof(r1));
		memset(&r2, 0, sizeof(r2));
		tu_fill(b1, 10, 0, 1);
		r1.op = r2.op = ST_OP_WRITE;
		r1.obj = (struct st_obj_id){1, 10};
		r1.len_bytes = 4096;
		r1.buf = b1;
		r1.version = 1;
		r1.cb = r2.cb = tst_ck_cb;
		r1.ctx = &rc1;
		r2.obj = id;
		r2.len_bytes = 64 * 4096;
		r2.buf = buf;
		r2.version = 3;
		r2.ctx = &rc2;
		ck_assert_int_eq(st_submit(st, &r1), 0);
		rt_reactor_run_once(g_r, 0); /* r1's record goes out */
		ck_assert_ptr_nonnull(st->flying);
		st_membackend_fail_writes(mb, st->sb.data_blk, st->sb.data_blks, -EIO);
		ck_assert_int_eq(st_submit(st, &r2), 0);
		for (int i = 0; i < 1000 && (rc1 == INT32_MIN || rc2 == INT32_MIN); i++)
			rt_reactor_run_once(g_r, 1000);
		st_membackend_fail_writes(mb, 0, 0, 0);
		ck_assert_int_eq(rc1, 0);
		ck_assert_int_eq(rc2, -EIO);
		st_statfs(st, &after);
		ck_assert_uint_eq(after.free_bytes, before.free_bytes - 4096);
		st_statfs(st, &before);
		free(b1);
	}
	st_get_stats(st, &ss);
	ck_assert_uint_ge(ss.io_errors, 21);
	ck_assert_int_eq(st_sync_checkpoint(st), 0);
	st_statfs(st, &after);
	ck_assert_uint_eq(after.free_bytes, before.free_bytes);
	/* And after a power cut: the failed writes are absent. */
	st_membackend_powercut(mb, 5);
	ck_assert_int_lt(st_close(&st), 0);
	st_membackend_restore(mb);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	ck_assert_int_eq(st_sync_read(st, id, 0, 64 * 4096, buf, NULL), 0);
	for (uint32_t b = 0; b < 64; b++)
		ck_assert_int_eq(tu_check(buf + (uint64_t)b * 4096, 9, b, 1), 0);
	st_statfs(st, &after);
	ck_assert_uint_eq(after.free_bytes, before.free_bytes);
	ck_assert_int_eq(st_close(&st), 0);
	st_membackend_destroy(&mb);
	free(buf);
}
END_TEST

START_TEST(test_journal_replay_crc)
{
	struct st_membackend *mb = NULL;
	struct st_opts o;
	struct st_store *st = NULL;
	uint8_t *buf = tu_buf(4096);
	uint64_t head;

	ck_assert_int_eq(st_membackend_create(g_r, 32 << 20, &mb), 0);
	st_opts_init(&o);
	o.backend = st_membackend_ops();
	o.backend_ctx = mb;
	o.backend_size_bytes = 32 << 20;
	o.backend_reactor = g_r;
	o.durability = ST_DUR_FUA;
	ck_assert_int_eq(st_format(&o), 0);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	head = st->jhead;
	for (uint64_t i = 0; i < 3; i++) {
		tu_fill(buf, i, 0, 1);
		ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){1, i}, 0, 4096, buf, i + 1), 0);
	}
	ck_assert_int_eq(st->jhead - head, 6); /* three records of 2 blocks */
	struct st_sb sb = st->sb;
	/* Crash (nothing is lost: FUA), then reopen: all three replayed. */
	st_membackend_powercut(mb, 1);
	ck_assert_int_lt(st_close(&st), 0);
	st_membackend_restore(mb);
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	for (uint64_t i = 0; i < 3; i++) {
		ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, i}, 0, 4096, buf, NULL), 0);
		ck_assert_int_eq(tu_check(buf, i, 0, 1), 0);
	}
	head = st->jhead;
	for (uint64_t i = 10; i < 13; i++) {
		tu_fill(buf, i, 0, 1);
		ck_assert_int_eq(st_sync_write(st, (struct st_obj_id){1, i}, 0, 4096, buf, i + 1), 0);
	}
	st_membackend_powercut(mb, 1);
	ck_assert_int_lt(st_close(&st), 0);
	st_membackend_restore(mb);
	/* Corrupt the data block of the second record: replay stops before it. */
	uint8_t *img = st_membackend_image(mb);
	uint64_t blk = sb.journal_blk + (head + 3) % sb.journal_blks;
	img[blk * 4096 + 17] ^= 0x5a;
	ck_assert_int_eq(st_open(&o, g_r, &st), 0);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 10}, 0, 4096, buf, NULL), 0);
	ck_assert_int_eq(tu_check(buf, 10, 0, 1), 0);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 11}, 0, 4096, buf, NULL), -ENOENT);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 12}, 0, 4096, buf, NULL), -ENOENT);
	ck_assert_int_eq(st_sync_read(st, (struct st_obj_id){1, 2}, 0, 4096, buf, NULL), 0);
	ck_assert_int_eq(st_close(&st), 0);
	st_membackend_destroy(&mb);
	free(buf);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("libstore");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_format_superblock);
	tcase_add_test(tc, test_alloc);
	tcase_add_test(tc, test_index);
	tcase_add_test(tc, test_rw_versions_reopen);
	tcase_add_test(tc, test_checksum);
	tcase_add_test(tc, test_enospc_discard);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_journal_wrap);
	tcase_add_test(tc, test_journal_replay_crc);
	tcase_add_test(tc, test_index_scan_moves);
	tcase_add_test(tc, test_ckpt_background_churn);
	tcase_add_test(tc, test_row_write_error_frees);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
