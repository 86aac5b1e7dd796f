/*
 * Seed corpora for the vhost fuzz targets:
 *   fuzz_vhost_seedgen msg DIR   QEMU-like message sequences (fuzz_vhost_msg's format:
 *                                per message u8 request, u8 flags, u8 fds, u16 size, payload)
 *   fuzz_vhost_seedgen vq DIR    guest memory images with valid rings (fuzz_vhost_vq's
 *                                format: u8 log2(ring size), u8 flags, memory image)
 *   fuzz_vhost_seedgen DIR       the kind named by DIR (.../fuzz_vhost_msg or _vq), as
 *                                tessera_fuzz_target's SEEDGEN runs it
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_blk.h"
#include "vhost_user.h"

static uint8_t buf[1 << 16];
static size_t len;

static void
put(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
	len = 0;
}

static void
msg(uint32_t req, unsigned fds, const void *p, uint16_t size)
{
	buf[len++] = (uint8_t)req;
	buf[len++] = VHOST_USER_NEED_REPLY_MASK;
	buf[len++] = (uint8_t)fds;
	memcpy(buf + len, &size, 2);
	len += 2;
	if (size)
		memcpy(buf + len, p, size);
	len += size;
}

static void
gen_msg(const char *dir)
{
	uint64_t u;
	struct vhost_user_vring_state st;
	struct vhost_user_vring_addr a;
	struct vhost_user_mem_reg mr;
	struct vhost_user_config cfg;
	struct vhost_user_inflight in;

	msg(VHOST_USER_GET_FEATURES, 0, NULL, 0);
	msg(VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0);
	u = (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << VHOST_USER_PROTOCOL_F_CONFIG) |
	    (1ull << VHOST_USER_PROTOCOL_F_MQ);
	msg(VHOST_USER_SET_PROTOCOL_FEATURES, 0, &u, 8);
	msg(VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0);
	msg(VHOST_USER_GET_MAX_MEM_SLOTS, 0, NULL, 0);
	msg(VHOST_USER_SET_OWNER, 0, NULL, 0);
	u = (1ull << VIRTIO_F_VERSION_1) | (1ull << VHOST_USER_F_PROTOCOL_FEATURES) |
	    (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	msg(VHOST_USER_SET_FEATURES, 0, &u, 8);
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = 60;
	msg(VHOST_USER_GET_CONFIG, 0, &cfg, VHOST_USER_CONFIG_HDR_SIZE + 60);
	memset(&mr, 0, sizeof(mr));
	mr.region = (struct vhost_user_mem_region){ 0, 65536, 0x10000000, 0 };
	msg(VHOST_USER_ADD_MEM_REG, 1, &mr, sizeof(mr));
	st = (struct vhost_user_vring_state){ 0, 16 };
	msg(VHOST_USER_SET_VRING_NUM, 0, &st, sizeof(st));
	st.num = 0;
	msg(VHOST_USER_SET_VRING_BASE, 0, &st, sizeof(st));
	a = (struct vhost_user_vring_addr){ 0, 0, 0x10000000, 0x10002000, 0x10001000, 0 };
	msg(VHOST_USER_SET_VRING_ADDR, 0, &a, sizeof(a));
	u = 0;
	msg(VHOST_USER_SET_VRING_CALL, 1, &u, 8);
	msg(VHOST_USER_SET_VRING_KICK, 1, &u, 8);
	st = (struct vhost_user_vring_state){ 0, 1 };
	msg(VHOST_USER_SET_VRING_ENABLE, 0, &st, sizeof(st));
	st.num = 0;
	msg(VHOST_USER_GET_VRING_BASE, 0, &st, sizeof(st));
	msg(VHOST_USER_REM_MEM_REG, 0, &mr, sizeof(mr));
	put(dir, "qemu-start-stop");

	in = (struct vhost_user_inflight){ 0, 0, 2, 128, 0 };
	msg(VHOST_USER_GET_INFLIGHT_FD, 0, &in, sizeof(in));
	in.mmap_size = 65536;
	msg(VHOST_USER_SET_INFLIGHT_FD, 1, &in, sizeof(in));
	struct vhost_user_mem_table mt;
	memset(&mt, 0, sizeof(mt));
	mt.nregions = 1;
	mt.regions[0] = (struct vhost_user_mem_region){ 0, 65536, 0x20000000, 0 };
	msg(VHOST_USER_SET_MEM_TABLE, 1, &mt, 8 + sizeof(mt.regions[0]));
	msg(VHOST_USER_RESET_OWNER, 0, NULL, 0);
	put(dir, "inflight-memtable");
}

#define GPA 0x10000u /* fuzz_vhost_vq's guest-physical base */

static void
gen_vq(const char *dir)
{
	uint8_t *mem = buf + 2;
	struct vring_desc *d = (struct vring_desc *)mem;
	struct vring_avail *av = (struct vring_avail *)(mem + 0x100);
	struct virtio_blk_outhdr h = { VIRTIO_BLK_T_IN, 0, 8 };

	memset(buf, 0, sizeof(buf));
	buf[0] = 4; /* 16 entries */
	buf[1] = 0;
	d[0] = (struct vring_desc){ GPA + 0x1000, 16, VRING_DESC_F_NEXT, 1 };
	d[1] = (struct vring_desc){ GPA + 0x2000, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2 };
	d[2] = (struct vring_desc){ GPA + 0x3000, 1, VRING_DESC_F_WRITE, 0 };
	/* An indirect chain at head 3. */
	d[3] = (struct vring_desc){ GPA + 0x400, 3 * sizeof(struct vring_desc),
				    VRING_DESC_F_INDIRECT, 0 };
	struct vring_desc *ind = (struct vring_desc *)(mem + 0x400);
	ind[0] = (struct vring_desc){ GPA + 0x1000, 16, VRING_DESC_F_NEXT, 1 };
	ind[1] = (struct vring_desc){ GPA + 0x500, 16, VRING_DESC_F_NEXT, 2 };
	ind[2] = (struct vring_desc){ GPA + 0x3000, 1, VRING_DESC_F_WRITE, 0 };
	av->idx = 2;
	av->ring[0] = 0;
	av->ring[1] = 3;
	memcpy(mem + 0x1000, &h, sizeof(h));
	len = 2 + 0x1010;
	put(dir, "in-and-indirect");
	buf[1] = 1; /* EVENT_IDX */
	memset(buf, 0, 2);
	buf[0] = 4;
	buf[1] = 1;
	len = 2 + 0x1010;
	put(dir, "event-idx");
}

int
main(int argc, char **argv)
{
	if (argc == 2) {
		if (strstr(argv[1], "fuzz_vhost_msg"))
			gen_msg(argv[1]);
		else if (strstr(argv[1], "fuzz_vhost_vq"))
			gen_vq(argv[1]);
		else
			return 2;
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: fuzz_vhost_seedgen [msg|vq] DIR\n");
		return 2;
	}
	if (!strcmp(argv[1], "msg"))
		gen_msg(argv[2]);
	else if (!strcmp(argv[1], "vq"))
		gen_vq(argv[2]);
	else
		return 2;
	return 0;
}
