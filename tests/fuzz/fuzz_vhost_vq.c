/*
 * libFuzzer target for the device side of a split virtqueue and virtio-blk
 * request parsing: the input is a guest memory image holding the descriptor
 * table, the avail ring, indirect tables and buffers. Every chain the ring
 * offers is taken, mapped, parsed and completed, as a queue thread would.
 * Anything out of bounds is an ASan report; a loop is a timeout.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vhost_blk.h"
#include "vhost_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_SIZE 65536u
#define GPA_BASE 0x10000u

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *mem;
	static struct vhost_iov iov[VHOST_BLK_IOV_MAX];
	static struct vhost_blk_cmd cmd;
	struct vhost_mem table;
	struct vhost_vq vq;
	unsigned num, nread;
	uint16_t head;
	bool event_idx;

	if (size < 4)
		return 0;
	if (!mem) {
		mem = aligned_alloc(4096, MEM_SIZE);
		if (!mem)
			abort();
	}
	num = 1u << (data[0] % 5); /* 1..16 */
	event_idx = data[1] & 1;
	memset(mem, 0, MEM_SIZE);
	memcpy(mem, data + 2, size - 2 < MEM_SIZE ? size - 2 : MEM_SIZE);
	vhost_mem_init(&table);
	/* Two regions back to back so chains can cross a region boundary. */
	if (vhost_mem_add_mapped(&table, GPA_BASE, MEM_SIZE / 2, 0, mem) ||
	    vhost_mem_add_mapped(&table, GPA_BASE + MEM_SIZE / 2, MEM_SIZE / 2, 0,
				 mem + MEM_SIZE / 2))
		abort();
	/* desc at 0, avail at 0x100, used at 0x180 (they fit for num <= 16), so
	 * that short inputs reach the rings. */
	if (vhost_vq_setup(&vq, num, (struct vring_desc *)mem, (struct vring_avail *)(mem + 0x100),
			   (struct vring_used *)(mem + 0x180), &table, event_idx, true,
			   (uint16_t)(data[1] >> 1)) < 0)
		abort();
	for (unsigned i = 0; i < 2 * num; i++) {
		int rc = vhost_vq_pop(&vq, &head);
		if (rc <= 0)
			break;
		int n = vhost_vq_map_chain(&vq, head, iov, VHOST_BLK_IOV_MAX, &nread);
		if (n > 0 && vhost_blk_cmd_parse(iov, (unsigned)n, nread, &cmd) == 0) {
			/* Touch what a request would touch. */
			volatile uint8_t sink = 0;
			for (unsigned k = 0; k < cmd.ndata; k++)
				if (cmd.data[k].iov_len)
					sink ^= ((uint8_t *)cmd.data[k].iov_base)[cmd.data[k].iov_len - 1];
			*cmd.status = sink;
		}
		vhost_vq_push(&vq, head, 1);
		(void)vhost_vq_need_call(&vq);
	}
	(void)vhost_vq_enable_notify(&vq);
	vhost_vq_disable_notify(&vq);
	return 0;
}
