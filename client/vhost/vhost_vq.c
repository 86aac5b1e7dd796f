/*
 * Split virtqueue (virtio 1.1 section 2.6), device side.
 *
 * The rings live in guest memory that the guest may change under us at any
 * time, so every field is read once into a local copy before it is checked
 * and used (no double fetch), every index is bounds-checked, and a chain may
 * visit at most as many descriptors as its table has (which catches loops).
 * Shared-index accesses use acquire/release atomics; the seq_cst fence in
 * vhost_vq_enable_notify / vhost_vq_need_call pairs with the guest's
 * barrier in its kick/interrupt suppression checks.
 *
 * This file knows nothing of threads or fds: the queue thread in vhost_blk.c
 * owns a vhost_vq while it runs. It is unit-tested and fuzzed on a synthetic
 * memory region (tests/unit/vhost, tests/fuzz/fuzz_vhost_vq.c).
 */
#include <errno.h>
#include <string.h>

#include "vhost_user.h"

static inline uint16_t
load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint16_t *
avail_used_event(const struct vhost_vq *vq)
{
	return &vq->avail->ring[vq->num];
}

static inline uint16_t *
used_avail_event(const struct vhost_vq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->num];
}

int
vhost_vq_setup(struct vhost_vq *vq, unsigned num, struct vring_desc *desc,
	       struct vring_avail *avail, struct vring_used *used, const struct vhost_mem *mem,
	       bool event_idx, bool indirect, uint16_t last_avail_idx)
{
	if (num == 0 || num > 32768 || (num & (num - 1)) != 0)
		return -EINVAL;
	if (!desc || !avail || !used)
		return -EINVAL;
	memset(vq, 0, sizeof(*vq));
	vq->num = num;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->mem = mem;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail_idx = last_avail_idx;
	vq->used_idx = load16(&used->idx);
	vq->signalled_used_valid = false;
	return 0;
}

unsigned
vhost_vq_avail_count(const struct vhost_vq *vq)
{
	return (uint16_t)(load16(&vq->avail->idx) - vq->last_avail_idx);
}

int
vhost_vq_pop(struct vhost_vq *vq, uint16_t *head)
{
	uint16_t avail_idx, h;

	if (vq->broken)
		return -EBADMSG;
	avail_idx = load16(&vq->avail->idx);
	if (avail_idx == vq->last_avail_idx)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->num) {
		vq->broken = true;
		return -EBADMSG;
	}
	h = load16(&vq->avail->ring[vq->last_avail_idx & (vq->num - 1)]);
	if (h >= vq->num) {
		vq->broken = true;
		return -EBADMSG;
	}
	vq->last_avail_idx++;
	*head = h;
	return 1;
}

/* Append the guest range [addr, addr+len) to iov, split at region ends. */
static int
map_range(const struct vhost_vq *vq, uint64_t addr, uint32_t len, bool write,
	  struct vhost_iov *iov, unsigned max, unsigned *n)
{
	uint64_t left = len;

	if (addr + len < addr)
		return -EBADMSG;
	while (left) {
		uint64_t contig;
		void *hva = vhost_mem_gpa_to_hva(vq->mem, addr, left, &contig);
		if (!hva || contig == 0)
			return -EBADMSG;
		if (*n >= max)
			return -E2BIG;
		iov[*n].iov.iov_base = hva;
		iov[*n].iov.iov_len = (size_t)contig;
		iov[*n].write = write;
		(*n)++;
		addr += contig;
		left -= contig;
	}
	return 0;
}

int
vhost_vq_map_chain(const struct vhost_vq *vq, uint16_t head, struct vhost_iov *iov, unsigned max,
		   unsigned *nread)
{
	const struct vring_desc *table = vq->desc;
	uint32_t table_size = vq->num;
	uint32_t idx = head, visited = 0;
	bool in_indirect = false, seen_write = false;
	unsigned n = 0, nr = 0;
	int rc;

	if (head >= vq->num)
		return -EBADMSG;
	for (;;) {
		struct vring_desc d;

		if (idx >= table_size || ++visited > table_size)
			return -EBADMSG;
		memcpy(&d, (const void *)&table[idx], sizeof(d));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			uint64_t contig;
			if (!vq->indirect || in_indirect || (d.flags & VRING_DESC_F_NEXT))
				return -EBADMSG;
			if (d.len == 0 || d.len % sizeof(struct vring_desc) != 0 ||
			    d.len / sizeof(struct vring_desc) > 32768)
				return -EBADMSG;
			table = vhost_mem_gpa_to_hva(vq->mem, d.addr, d.len, &contig);
			if (!table || contig != d.len ||
			    ((uintptr_t)table & (_Alignof(struct vring_desc) - 1)) != 0)
				return -EBADMSG;
			table_size = d.len / (uint32_t)sizeof(struct vring_desc);
			in_indirect = true;
			idx = 0;
			visited = 0;
			continue;
		}
		bool write = (d.flags & VRING_DESC_F_WRITE) != 0;
		if (!write && seen_write)
			return -EBADMSG;
		seen_write |= write;
		if (d.len) {
			rc = map_range(vq, d.addr, d.len, write, iov, max, &n);
			if (rc < 0)
				return rc;
			if (!write)
				nr = n;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		idx = d.next;
	}
	if (n == 0)
		return -EBADMSG;
	*nread = nr;
	return (int)n;
}

void
vhost_vq_push(struct vhost_vq *vq, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->num - 1)];

	e->id = head;
	e->len = len;
	vq->used_idx++;
	store16(&vq->used->idx, vq->used_idx);
}

static inline bool
vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

bool
vhost_vq_need_call(struct vhost_vq *vq)
{
	uint16_t old, event;
	bool valid;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	event = load16(avail_used_event(vq));
	return vring_need_event(event, vq->used_idx, old);
}

bool
vhost_vq_enable_notify(struct vhost_vq *vq)
{
	if (vq->event_idx)
		store16(used_avail_event(vq), vq->last_avail_idx);
	else
		store16(&vq->used->flags, load16(&vq->used->flags) & ~VRING_USED_F_NO_NOTIFY);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(&vq->avail->idx) != vq->last_avail_idx;
}

void
vhost_vq_disable_notify(struct vhost_vq *vq)
{
	if (!vq->event_idx)
		store16(&vq->used->flags, load16(&vq->used->flags) | VRING_USED_F_NO_NOTIFY);
}
