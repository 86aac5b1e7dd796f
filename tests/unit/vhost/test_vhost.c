/*
 * Unit tests of tessera-vhost: message validation, the memory table, the
 * split virtqueue (chains, indirect tables, loops, bounds, EVENT_IDX),
 * virtio-blk parsing, and a queue thread serving a synthetic guest ring on
 * the RAM-disk backend.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt_log.h"
#include "vhost_blk.h"
#include "vhost_user.h"

/* ------------------------------------------------ a synthetic guest */

#define G_BASE 0x100000ull  /* guest-physical start */
#define G_SIZE (1u << 20)
#define Q_NUM 32u
#define G_DESC 0x0          /* offsets in guest memory */
#define G_AVAIL 0x1000
#define G_USED 0x2000
#define G_INDIRECT 0x3000
#define G_DATA 0x10000

struct guest {
	uint8_t *mem;
	struct vhost_mem table;
	struct vhost_vq vq;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

static void
guest_init(struct guest *g, bool event_idx)
{
	g->mem = aligned_alloc(4096, G_SIZE);
	ck_assert_ptr_nonnull(g->mem);
	memset(g->mem, 0, G_SIZE);
	vhost_mem_init(&g->table);
	/* uva = our address: the ring addresses translate as in QEMU's case. */
	ck_assert_int_eq(vhost_mem_add_mapped(&g->table, G_BASE, G_SIZE, (uintptr_t)g->mem, g->mem),
			 0);
	g->desc = (struct vring_desc *)(g->mem + G_DESC);
	g->avail = (struct vring_avail *)(g->mem + G_AVAIL);
	g->used = (struct vring_used *)(g->mem + G_USED);
	ck_assert_int_eq(vhost_vq_setup(&g->vq, Q_NUM, g->desc, g->avail, g->used, &g->table,
					event_idx, true, 0),
			 0);
}

static void
guest_fini(struct guest *g)
{
	free(g->mem);
}

static void
set_desc(struct guest *g, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	g->desc[i] = (struct vring_desc){ gpa, len, flags, next };
}

static void
post(struct guest *g, uint16_t head)
{
	g->avail->ring[g->avail->idx % Q_NUM] = head;
	__atomic_store_n(&g->avail->idx, (uint16_t)(g->avail->idx + 1), __ATOMIC_RELEASE);
}

/* -------------------------------------------------------- messages */

START_TEST(test_msg_validate)
{
	struct vhost_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.request = VHOST_USER_GET_FEATURES;
	ck_assert_int_eq(vhost_msg_validate(&m), 0);
	m.hdr.flags = 2; /* wrong version */
	ck_assert_int_eq(vhost_msg_validate(&m), -EBADMSG);
	m.hdr.flags = VHOST_USER_VERSION;

	m.hdr.request = VHOST_USER_SET_FEATURES;
	m.hdr.size = 4;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	m.hdr.size = 8;
	ck_assert_int_eq(vhost_msg_validate(&m), 0);

	m.hdr.request = VHOST_USER_SET_VRING_NUM;
	m.hdr.size = sizeof(m.p.state);
	m.p.state.index = VHOST_VQ_MAX;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	m.p.state.index = 1;
	ck_assert_int_eq(vhost_msg_validate(&m), 0);

	/* Kick: an fd unless the no-fd bit says otherwise. */
	m.hdr.request = VHOST_USER_SET_VRING_KICK;
	m.hdr.size = 8;
	m.p.u64 = 0;
	m.nfds = 0;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	m.nfds = 1;
	ck_assert_int_eq(vhost_msg_validate(&m), 0);
	m.p.u64 = VHOST_VRING_NOFD_MASK;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	m.nfds = 0;
	ck_assert_int_eq(vhost_msg_validate(&m), 0);

	/* Memory table: region count, fds and size agree. */
	m.hdr.request = VHOST_USER_SET_MEM_TABLE;
	m.p.mem.nregions = 2;
	m.nfds = 2;
	m.hdr.size = 8 + 2 * sizeof(struct vhost_user_mem_region);
	ck_assert_int_eq(vhost_msg_validate(&m), 0);
	m.nfds = 1;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	m.nfds = 9;
	m.p.mem.nregions = 9;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	m.nfds = 0;

	m.hdr.request = VHOST_USER_GET_CONFIG;
	m.p.config.size = 60;
	m.hdr.size = VHOST_USER_CONFIG_HDR_SIZE + 60;
	ck_assert_int_eq(vhost_msg_validate(&m), 0);
	m.p.config.size = 1000;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);

	m.hdr.request = 9999;
	m.hdr.size = 0;
	ck_assert_int_eq(vhost_msg_validate(&m), -EINVAL);
	ck_assert_str_eq(vhost_msg_name(VHOST_USER_ADD_MEM_REG), "ADD_MEM_REG");
	ck_assert_str_eq(vhost_msg_name(9999), "UNKNOWN");
}
END_TEST

/* ---------------------------------------------------------- memory */

START_TEST(test_mem_table)
{
	static uint8_t a[8192], b[8192];
	struct vhost_mem mem;
	struct vhost_user_mem_region r = { .guest_phys_addr = 0x1000, .memory_size = 8192 };
	uint64_t contig;
	uint8_t *p;

	vhost_mem_init(&mem);
	ck_assert_int_eq(vhost_mem_add_mapped(&mem, 0x1000, 8192, 0x50000, a), 0);
	ck_assert_int_eq(vhost_mem_add_mapped(&mem, 0x3000, 8192, 0x90000, b), 0);
	/* Overlaps, empty and wrapping ranges are refused. */
	ck_assert_int_eq(vhost_mem_add_mapped(&mem, 0x2000, 4096, 0, a), -EINVAL);
	ck_assert_int_eq(vhost_mem_add_mapped(&mem, 0x9000, 0, 0, a), -EINVAL);
	ck_assert_int_eq(vhost_mem_add_mapped(&mem, UINT64_MAX - 10, 100, 0, a), -EINVAL);

	p = vhost_mem_gpa_to_hva(&mem, 0x1000, 100, &contig);
	ck_assert_ptr_eq(p, a);
	ck_assert_uint_eq(contig, 100);
	/* A range crossing the region end is cut there. */
	p = vhost_mem_gpa_to_hva(&mem, 0x2f00, 0x200, &contig);
	ck_assert_ptr_eq(p, a + 0x1f00);
	ck_assert_uint_eq(contig, 0x100);
	ck_assert_ptr_null(vhost_mem_gpa_to_hva(&mem, 0x5000, 1, &contig));
	ck_assert_ptr_null(vhost_mem_gpa_to_hva(&mem, 0xfff, 1, &contig));

	ck_assert_ptr_eq(vhost_mem_uva_to_hva(&mem, 0x90010, 16), b + 16);
	ck_assert_ptr_null(vhost_mem_uva_to_hva(&mem, 0x91ff0, 32)); /* past the end */

	ck_assert_int_eq(vhost_mem_remove(&mem, &r), 0);
	ck_assert_int_eq(vhost_mem_remove(&mem, &r), -ENOENT);
	ck_assert_ptr_null(vhost_mem_gpa_to_hva(&mem, 0x1000, 1, &contig));
	ck_assert_uint_eq(mem.nregions, 1);
	vhost_mem_clear(&mem);

	/* A real fd: a region past the end of the file is refused (SIGBUS). */
	int fd = memfd_create("t", 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 65536), 0);
	struct vhost_user_mem_region big = { 0, 131072, 0x1000000, 0 };
	ck_assert_int_eq(vhost_mem_add(&mem, &big, fd), -EINVAL);
	big.memory_size = 32768;
	big.mmap_offset = 32768 + 4096;
	ck_assert_int_eq(vhost_mem_add(&mem, &big, fd), -EINVAL);
	big.mmap_offset = 32768;
	ck_assert_int_eq(vhost_mem_add(&mem, &big, fd), 0); /* takes fd */
	p = vhost_mem_gpa_to_hva(&mem, 32767, 1, &contig);
	ck_assert_ptr_nonnull(p);
	*p = 1;
	vhost_mem_clear(&mem);
}
END_TEST

/* --------------------------------------------------------- virtqueue */

START_TEST(test_vq_chain)
{
	struct guest g;
	struct vhost_iov iov[8];
	unsigned nread;
	uint16_t head;

	guest_init(&g, false);
	ck_assert_int_eq(vhost_vq_pop(&g.vq, &head), 0);
	set_desc(&g, 3, G_BASE + G_DATA, 16, VRING_DESC_F_NEXT, 5);
	set_desc(&g, 5, G_BASE + G_DATA + 4096, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 7);
	set_desc(&g, 7, G_BASE + G_DATA + 8192, 1, VRING_DESC_F_WRITE, 0);
	post(&g, 3);
	ck_assert_uint_eq(vhost_vq_avail_count(&g.vq), 1);
	ck_assert_int_eq(vhost_vq_pop(&g.vq, &head), 1);
	ck_assert_uint_eq(head, 3);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, head, iov, 8, &nread), 3);
	ck_assert_uint_eq(nread, 1);
	ck_assert_ptr_eq(iov[0].iov.iov_base, g.mem + G_DATA);
	ck_assert(!iov[0].write && iov[1].write && iov[2].write);
	ck_assert_uint_eq(iov[1].iov.iov_len, 4096);
	/* Too few iovecs. */
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, head, iov, 2, &nread), -E2BIG);

	vhost_vq_push(&g.vq, head, 4097);
	ck_assert_uint_eq(g.used->idx, 1);
	ck_assert_uint_eq(g.used->ring[0].id, 3);
	ck_assert_uint_eq(g.used->ring[0].len, 4097);
	guest_fini(&g);
}
END_TEST

START_TEST(test_vq_bad_chains)
{
	struct guest g;
	struct vhost_iov iov[64];
	unsigned nread;
	uint16_t head;

	guest_init(&g, false);
	/* A loop. */
	set_desc(&g, 0, G_BASE + G_DATA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(&g, 1, G_BASE + G_DATA, 16, VRING_DESC_F_NEXT, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 0, iov, 64, &nread), -EBADMSG);
	/* next out of range. */
	set_desc(&g, 1, G_BASE + G_DATA, 16, VRING_DESC_F_NEXT, Q_NUM);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 0, iov, 64, &nread), -EBADMSG);
	/* Readable after writable. */
	set_desc(&g, 0, G_BASE + G_DATA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(&g, 1, G_BASE + G_DATA, 16, 0, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 0, iov, 64, &nread), -EBADMSG);
	/* Outside guest memory, and wrapping. */
	set_desc(&g, 0, G_BASE + G_SIZE - 8, 16, 0, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 0, iov, 64, &nread), -EBADMSG);
	set_desc(&g, 0, UINT64_MAX - 4, 16, 0, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 0, iov, 64, &nread), -EBADMSG);
	/* Zero-length chain. */
	set_desc(&g, 0, G_BASE, 0, 0, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 0, iov, 64, &nread), -EBADMSG);
	/* Head out of range. */
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, Q_NUM, iov, 64, &nread), -EBADMSG);

	/* An avail index more than num ahead breaks the ring. */
	g.avail->idx = Q_NUM + 1;
	ck_assert_int_eq(vhost_vq_pop(&g.vq, &head), -EBADMSG);
	ck_assert(g.vq.broken);
	g.vq.broken = false;
	g.avail->idx = 1;
	g.avail->ring[0] = Q_NUM; /* bad head */
	ck_assert_int_eq(vhost_vq_pop(&g.vq, &head), -EBADMSG);
	guest_fini(&g);
}
END_TEST

START_TEST(test_vq_indirect)
{
	struct guest g;
	struct vhost_iov iov[8];
	struct vring_desc *ind;
	unsigned nread;

	guest_init(&g, false);
	ind = (struct vring_desc *)(g.mem + G_INDIRECT);
	ind[0] = (struct vring_desc){ G_BASE + G_DATA, 16, VRING_DESC_F_NEXT, 1 };
	ind[1] = (struct vring_desc){ G_BASE + G_DATA + 4096, 512,
				      VRING_DESC_F_NEXT, 2 };
	ind[2] = (struct vring_desc){ G_BASE + G_DATA + 8192, 1, VRING_DESC_F_WRITE, 0 };
	set_desc(&g, 2, G_BASE + G_INDIRECT, 3 * sizeof(struct vring_desc),
		 VRING_DESC_F_INDIRECT, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 2, iov, 8, &nread), 3);
	ck_assert_uint_eq(nread, 2);
	/* Indirect with NEXT, nested indirect, bad length: refused. */
	set_desc(&g, 2, G_BASE + G_INDIRECT, 3 * sizeof(struct vring_desc),
		 VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 2, iov, 8, &nread), -EBADMSG);
	set_desc(&g, 2, G_BASE + G_INDIRECT, 20, VRING_DESC_F_INDIRECT, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 2, iov, 8, &nread), -EBADMSG);
	ind[1].flags = VRING_DESC_F_INDIRECT;
	set_desc(&g, 2, G_BASE + G_INDIRECT, 3 * sizeof(struct vring_desc),
		 VRING_DESC_F_INDIRECT, 0);
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 2, iov, 8, &nread), -EBADMSG);
	/* A loop inside the table. */
	ind[1] = (struct vring_desc){ G_BASE + G_DATA, 16, VRING_DESC_F_NEXT, 0 };
	ck_assert_int_eq(vhost_vq_map_chain(&g.vq, 2, iov, 8, &nread), -EBADMSG);
	guest_fini(&g);
}
END_TEST

START_TEST(test_vq_event_idx)
{
	struct guest g;
	uint16_t *used_event, *avail_event;

	guest_init(&g, true);
	used_event = &g.avail->ring[Q_NUM];
	avail_event = (uint16_t *)&g.used->ring[Q_NUM];
	/* The first push always signals. */
	vhost_vq_push(&g.vq, 0, 1);
	ck_assert(vhost_vq_need_call(&g.vq));
	/* The guest wants an interrupt when used idx passes 3. */
	*used_event = 3;
	vhost_vq_push(&g.vq, 1, 1); /* used idx 2 */
	ck_assert(!vhost_vq_need_call(&g.vq));
	vhost_vq_push(&g.vq, 2, 1); /* 3 */
	vhost_vq_push(&g.vq, 3, 1); /* 4: crossed 3 */
	ck_assert(vhost_vq_need_call(&g.vq));
	/* Enabling notifications publishes where we are. */
	g.vq.last_avail_idx = 9;
	g.avail->idx = 9;
	ck_assert(!vhost_vq_enable_notify(&g.vq));
	ck_assert_uint_eq(*avail_event, 9);
	g.avail->idx = 10;
	ck_assert(vhost_vq_enable_notify(&g.vq));
	guest_fini(&g);

	/* Without EVENT_IDX: the flags. */
	guest_init(&g, false);
	vhost_vq_disable_notify(&g.vq);
	ck_assert_uint_eq(g.used->flags & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
	vhost_vq_enable_notify(&g.vq);
	ck_assert_uint_eq(g.used->flags & VRING_USED_F_NO_NOTIFY, 0);
	g.avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vhost_vq_push(&g.vq, 0, 1);
	ck_assert(!vhost_vq_need_call(&g.vq));
	g.avail->flags = 0;
	ck_assert(vhost_vq_need_call(&g.vq));
	guest_fini(&g);
}
END_TEST

/* -------------------------------------------------------- virtio-blk */

START_TEST(test_blk_parse)
{
	static uint8_t hdrbuf[16], data[8192], status[1];
	struct virtio_blk_outhdr h = { .type = VIRTIO_BLK_T_OUT, .sector = 8 };
	struct vhost_iov iov[4];
	static struct vhost_blk_cmd cmd;

	/* Header split over two segments, data in the second one too. */
	memcpy(hdrbuf, &h, sizeof(h));
	memcpy(data, (uint8_t *)&h + 10, 6);
	iov[0] = (struct vhost_iov){ { hdrbuf, 10 }, false };
	iov[1] = (struct vhost_iov){ { data, 6 + 4096 }, false };
	iov[2] = (struct vhost_iov){ { status, 1 }, true };
	ck_assert_int_eq(vhost_blk_cmd_parse(iov, 3, 2, &cmd), 0);
	ck_assert_uint_eq(cmd.type, VIRTIO_BLK_T_OUT);
	ck_assert_uint_eq(cmd.sector, 8);
	ck_assert_uint_eq(cmd.data_len, 4096);
	ck_assert_uint_eq(cmd.ndata, 1);
	ck_assert_ptr_eq(cmd.data[0].iov_base, data + 6);
	ck_assert_ptr_eq(cmd.status, status);

	/* IN: data and status share the last writable segment. */
	h.type = VIRTIO_BLK_T_IN;
	memcpy(hdrbuf, &h, sizeof(h));
	iov[0] = (struct vhost_iov){ { hdrbuf, 16 }, false };
	iov[1] = (struct vhost_iov){ { data, 4097 }, true };
	ck_assert_int_eq(vhost_blk_cmd_parse(iov, 2, 1, &cmd), 0);
	ck_assert_uint_eq(cmd.data_len, 4096);
	ck_assert_ptr_eq(cmd.status, data + 4096);

	/* No writable byte: nothing to report on. */
	ck_assert_int_eq(vhost_blk_cmd_parse(iov, 1, 1, &cmd), -EBADMSG);
	/* Short header: status set, request malformed. */
	iov[0].iov.iov_len = 8;
	ck_assert_int_eq(vhost_blk_cmd_parse(iov, 2, 1, &cmd), -EINVAL);
	ck_assert_ptr_nonnull(cmd.status);
}
END_TEST

START_TEST(test_blk_config)
{
	struct vhost_bdev *b;
	static struct vhost_dev dev;
	struct vhost_dev_opts o = { .max_queues = 2 };
	struct virtio_blk_config cfg;

	ck_assert_int_eq(vhost_bdev_malloc_open(1 << 20, "ser", &b), 0);
	vhost_dev_init(&dev, -1, b, &o);
	vhost_blk_config_fill(&dev, &cfg);
	ck_assert_uint_eq(cfg.capacity, 2048);
	ck_assert_uint_eq(cfg.blk_size, 4096);
	ck_assert_uint_eq(cfg.num_queues, 2);
	ck_assert_uint_eq(cfg.seg_max, VHOST_BLK_SEG_MAX);
	ck_assert(vhost_blk_features(b) & (1ull << VIRTIO_BLK_F_DISCARD));
	ck_assert(vhost_dev_protocol_features(&dev) & (1ull << VHOST_USER_PROTOCOL_F_CONFIG));
	vhost_dev_fini(&dev);
	vhost_bdev_close(&b);
	ck_assert_ptr_null(b);
	ck_assert_int_eq(vhost_bdev_malloc_open(1000, "x", &b), -EINVAL);
}
END_TEST

/* ------------------------------------- a queue thread on a RAM disk */

static void
wait_used(struct guest *g, int call_fd, uint16_t want)
{
	for (int i = 0; i < 500 && __atomic_load_n(&g->used->idx, __ATOMIC_ACQUIRE) != want;
	     i++) {
		struct pollfd p = { call_fd, POLLIN, 0 };
		uint64_t v;
		if (poll(&p, 1, 10) > 0)
			ck_assert_int_eq(read(call_fd, &v, sizeof(v)), (int)sizeof(v));
	}
	ck_assert_uint_eq(g->used->idx, want);
}

/* Post a request: header at slot*64 (+ data at G_DATA + slot*8192) + status. */
static void
post_req(struct guest *g, unsigned slot, uint32_t type, uint64_t sector, uint32_t len,
	 bool write)
{
	unsigned d = slot * 3;
	uint64_t hdr = G_BASE + 0x8000 + slot * 64;
	struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *)(g->mem + 0x8000 + slot * 64);

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	g->mem[0x8000 + slot * 64 + 32] = 0xff; /* status */
	set_desc(g, d, hdr, 16, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
	set_desc(g, d + 1, G_BASE + G_DATA + slot * 8192, len,
		 VRING_DESC_F_NEXT | (write ? 0 : VRING_DESC_F_WRITE), (uint16_t)(d + 2));
	set_desc(g, d + 2, hdr + 32, 1, VRING_DESC_F_WRITE, 0);
	post(g, (uint16_t)d);
}

static uint8_t
req_status(struct guest *g, unsigned slot)
{
	return g->mem[0x8000 + slot * 64 + 32];
}

START_TEST(test_blk_queue_malloc)
{
	struct guest g;
	struct vhost_bdev *b;
	static struct vhost_dev dev;
	struct vhost_dev_opts o = { .max_queues = 1, .poll_us = 0 };
	struct vhost_dev_vring *vr;
	int kick, call;
	uint8_t *d0, *d1;

	guest_init(&g, true);
	ck_assert_int_eq(vhost_bdev_malloc_open(1 << 20, "ser", &b), 0);
	vhost_dev_init(&dev, -1, b, &o);
	dev.features = vhost_blk_features(b);
	ck_assert_int_eq(vhost_mem_add_mapped(&dev.mem, G_BASE, G_SIZE, (uintptr_t)g.mem, g.mem),
			 0);
	kick = eventfd(0, EFD_NONBLOCK);
	call = eventfd(0, EFD_NONBLOCK);
	vr = &dev.vr[0];
	vr->num = Q_NUM;
	vr->addr = (struct vhost_user_vring_addr){ .desc_user_addr = (uintptr_t)g.desc,
						   .avail_user_addr = (uintptr_t)g.avail,
						   .used_user_addr = (uintptr_t)g.used };
	vr->addr_set = true;
	vr->kick_fd = kick;
	vr->call_fd = call;
	ck_assert_int_eq(vhost_blk_queue_start(&dev, 0), 0);

	d0 = g.mem + G_DATA;
	d1 = g.mem + G_DATA + 8192;
	memset(d0, 0xab, 4096);
	post_req(&g, 0, VIRTIO_BLK_T_OUT, 8, 4096, true);
	uint64_t one = 1;
	ck_assert_int_eq(write(kick, &one, 8), 8);
	wait_used(&g, call, 1);
	ck_assert_uint_eq(req_status(&g, 0), VIRTIO_BLK_S_OK);

	post_req(&g, 1, VIRTIO_BLK_T_IN, 8, 4096, false);
	ck_assert_int_eq(write(kick, &one, 8), 8);
	wait_used(&g, call, 2);
	ck_assert_uint_eq(req_status(&g, 1), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(memcmp(d0, d1, 4096), 0);
	ck_assert_uint_eq(g.used->ring[1].len, 4097);

	/* Unaligned sector, past the end, unknown type, GET_ID. */
	post_req(&g, 2, VIRTIO_BLK_T_IN, 1, 4096, false);
	post_req(&g, 3, VIRTIO_BLK_T_IN, 2048, 4096, false);
	post_req(&g, 4, 77, 0, 16, false);
	post_req(&g, 5, VIRTIO_BLK_T_GET_ID, 0, 20, false);
	ck_assert_int_eq(write(kick, &one, 8), 8);
	wait_used(&g, call, 6);
	ck_assert_uint_eq(req_status(&g, 2), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req_status(&g, 3), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req_status(&g, 4), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(req_status(&g, 5), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(memcmp(g.mem + G_DATA + 5 * 8192, "ser", 4), 0);

	/* WRITE_ZEROES over the block written above, then read it back. */
	struct virtio_blk_discard_wz seg = { .sector = 8, .num_sectors = 8,
					     .flags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	memcpy(g.mem + G_DATA + 2 * 8192, &seg, sizeof(seg));
	post_req(&g, 2, VIRTIO_BLK_T_WRITE_ZEROES, 0, sizeof(seg), true);
	/* DISCARD with a flag (not allowed), misaligned, and two segments. */
	seg = (struct virtio_blk_discard_wz){ .sector = 16, .num_sectors = 8, .flags = 1 };
	memcpy(g.mem + G_DATA + 3 * 8192, &seg, sizeof(seg));
	post_req(&g, 3, VIRTIO_BLK_T_DISCARD, 0, sizeof(seg), true);
	seg = (struct virtio_blk_discard_wz){ .sector = 17, .num_sectors = 8, .flags = 0 };
	memcpy(g.mem + G_DATA + 4 * 8192, &seg, sizeof(seg));
	post_req(&g, 4, VIRTIO_BLK_T_DISCARD, 0, sizeof(seg), true);
	post_req(&g, 5, VIRTIO_BLK_T_DISCARD, 0, 2 * sizeof(seg), true);
	ck_assert_int_eq(write(kick, &one, 8), 8);
	wait_used(&g, call, 10);
	ck_assert_uint_eq(req_status(&g, 2), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(req_status(&g, 3), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(req_status(&g, 4), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req_status(&g, 5), VIRTIO_BLK_S_UNSUPP);
	memset(d1, 0xee, 4096);
	post_req(&g, 1, VIRTIO_BLK_T_IN, 8, 4096, false);
	ck_assert_int_eq(write(kick, &one, 8), 8);
	wait_used(&g, call, 11);
	ck_assert_uint_eq(req_status(&g, 1), VIRTIO_BLK_S_OK);
	for (unsigned i = 0; i < 4096; i++)
		ck_assert_uint_eq(d1[i], 0);

	/* Stop returns the next avail index; restart continues from it. */
	ck_assert_uint_eq(vhost_blk_queue_stop(&dev, 0), 11);
	ck_assert_int_eq(vhost_blk_queue_start(&dev, 0), 0);
	post_req(&g, 1, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	/* zero-length data descriptor: the chain still has header and status */
	ck_assert_int_eq(write(kick, &one, 8), 8);
	wait_used(&g, call, 12);
	ck_assert_uint_eq(req_status(&g, 1), VIRTIO_BLK_S_OK);

	vhost_dev_fini(&dev); /* stops the queue, closes the fds */
	vhost_bdev_close(&b);
	guest_fini(&g);
}
END_TEST


/* A restart with an inflight region: the marked head is resubmitted, not re-popped. */
START_TEST(test_blk_inflight_resubmit)
{
	struct guest g;
	struct vhost_bdev *b;
	static struct vhost_dev dev;
	struct vhost_dev_opts o = { .max_queues = 1, .poll_us = 0 };
	struct vhost_dev_vring *vr;
	struct vhost_inflight_queue *in;
	size_t in_size = sizeof(*in) + Q_NUM * sizeof(in->desc[0]);
	int kick, call;

	guest_init(&g, false);
	ck_assert_int_eq(vhost_bdev_malloc_open(1 << 20, "ser", &b), 0);
	vhost_dev_init(&dev, -1, b, &o);
	dev.features = vhost_blk_features(b) & ~(1ull << VIRTIO_RING_F_EVENT_IDX);
	ck_assert_int_eq(vhost_mem_add_mapped(&dev.mem, G_BASE, G_SIZE, (uintptr_t)g.mem, g.mem),
			 0);
	/* Two requests posted; the dead backend had taken both, completed the
	 * first (used idx 1) and died with the second (head 3) in flight. */
	post_req(&g, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	post_req(&g, 1, VIRTIO_BLK_T_GET_ID, 0, 20, false);
	g.used->ring[0] = (struct vring_used_elem){ 0, 1 };
	g.used->idx = 1;
	in = calloc(1, in_size);
	in->version = 1;
	in->desc_num = Q_NUM;
	in->used_idx = 1;
	in->desc[3].inflight = 1;
	in->desc[3].counter = 2;
	dev.inflight_addr = NULL; /* owned by the test: not unmapped by fini */
	kick = eventfd(0, EFD_NONBLOCK);
	call = eventfd(0, EFD_NONBLOCK);
	vr = &dev.vr[0];
	vr->num = Q_NUM;
	vr->addr = (struct vhost_user_vring_addr){ .desc_user_addr = (uintptr_t)g.desc,
						   .avail_user_addr = (uintptr_t)g.avail,
						   .used_user_addr = (uintptr_t)g.used };
	vr->addr_set = true;
	vr->kick_fd = kick;
	vr->call_fd = call;
	vr->base = 1; /* QEMU restores last avail = used idx after a crash */
	dev.inflight_addr = in;
	dev.inflight_size = in_size;
	dev.inflight_per_queue = in_size;
	dev.inflight_num_queues = 1;
	dev.inflight_queue_size = Q_NUM;
	ck_assert_int_eq(vhost_blk_queue_start(&dev, 0), 0);
	wait_used(&g, call, 2);
	ck_assert_uint_eq(g.used->ring[1].id, 3);
	ck_assert_uint_eq(req_status(&g, 1), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(in->desc[3].inflight, 0);
	ck_assert_uint_eq(in->used_idx, 2);
	/* Nothing was popped twice: the next avail index is 2. */
	ck_assert_uint_eq(vhost_blk_queue_stop(&dev, 0), 2);
	dev.inflight_addr = NULL;
	vhost_dev_fini(&dev);
	free(in);
	vhost_bdev_close(&b);
	guest_fini(&g);
}
END_TEST

static Suite *
vhost_suite(void)
{
	Suite *s = suite_create("vhost");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_msg_validate);
	tcase_add_test(tc, test_mem_table);
	tcase_add_test(tc, test_vq_chain);
	tcase_add_test(tc, test_vq_bad_chains);
	tcase_add_test(tc, test_vq_indirect);
	tcase_add_test(tc, test_vq_event_idx);
	tcase_add_test(tc, test_blk_parse);
	tcase_add_test(tc, test_blk_config);
	tcase_add_test(tc, test_blk_queue_malloc);
	tcase_add_test(tc, test_blk_inflight_resubmit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(vhost_suite());
	int failed;

	rt_log_init("test_vhost", NULL, RT_LOG_WARN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rt_log_fini();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
