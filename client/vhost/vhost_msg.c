/*
 * vhost-user messages and the guest memory table.
 *
 * A message is a 12-byte header and up to VHOST_USER_PAYLOAD_MAX bytes of
 * payload; fds travel as SCM_RIGHTS with the header. Reading is blocking (the
 * control thread of an export does nothing else), validation is a pure
 * function of the bytes (fuzzed by tests/fuzz/fuzz_vhost_msg.c), and the
 * device state machine in vhost_dev.c only sees validated messages.
 *
 * The memory table maps each region's fd MAP_SHARED and keeps three views of
 * it: guest-physical (descriptors), frontend-virtual (ring addresses) and
 * ours. Every translation checks the whole range against the region so a
 * guest cannot make us touch memory outside what it shared.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vhost_user.h"

static const char *const msg_names[VHOST_USER_REQ__MAX] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VHOST_USER_SEND_RARP] = "SEND_RARP",
	[VHOST_USER_NET_SET_MTU] = "NET_SET_MTU",
	[VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VHOST_USER_IOTLB_MSG] = "IOTLB_MSG",
	[VHOST_USER_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[VHOST_USER_CREATE_CRYPTO_SESSION] = "CREATE_CRYPTO_SESSION",
	[VHOST_USER_CLOSE_CRYPTO_SESSION] = "CLOSE_CRYPTO_SESSION",
	[VHOST_USER_POSTCOPY_ADVISE] = "POSTCOPY_ADVISE",
	[VHOST_USER_POSTCOPY_LISTEN] = "POSTCOPY_LISTEN",
	[VHOST_USER_POSTCOPY_END] = "POSTCOPY_END",
	[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[VHOST_USER_GPU_SET_SOCKET] = "GPU_SET_SOCKET",
	[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	[VHOST_USER_VRING_KICK] = "VRING_KICK",
	[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
	[VHOST_USER_SET_STATUS] = "SET_STATUS",
	[VHOST_USER_GET_STATUS] = "GET_STATUS",
};

const char *
vhost_msg_name(uint32_t request)
{
	if (request < VHOST_USER_REQ__MAX && msg_names[request])
		return msg_names[request];
	return "UNKNOWN";
}

void
vhost_msg_close_fds(struct vhost_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0)
			close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
}

/* Read exactly len bytes (no fds expected). */
static int
read_full(int sock, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(sock, (char *)buf + done, len - done, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int
vhost_msg_recv(int sock, struct vhost_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	ssize_t n;
	int rc;

	m->nfds = 0;
	do {
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *fds = (const int *)CMSG_DATA(c);
		for (size_t i = 0; i < cnt; i++) {
			int fd;
			memcpy(&fd, &fds[i], sizeof(fd));
			if (m->nfds < VHOST_USER_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		rc = -EBADMSG;
		goto out_close;
	}
	if ((size_t)n < sizeof(m->hdr)) {
		rc = read_full(sock, (char *)&m->hdr + n, sizeof(m->hdr) - (size_t)n);
		if (rc < 0)
			goto out_close;
	}
	if ((m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    m->hdr.size > VHOST_USER_PAYLOAD_MAX) {
		rc = -EBADMSG;
		goto out_close;
	}
	if (m->hdr.size) {
		rc = read_full(sock, &m->p, m->hdr.size);
		if (rc < 0)
			goto out_close;
	}
	return 0;

out_close:
	vhost_msg_close_fds(m);
	return rc;
}

/* Payload size a request must carry exactly (or at least, for variable ones). */
int
vhost_msg_validate(const struct vhost_msg *m)
{
	uint32_t sz = m->hdr.size;
	unsigned fds = m->nfds;

	if ((m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		return -EBADMSG;
	if (sz > VHOST_USER_PAYLOAD_MAX)
		return -EBADMSG;
	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_STATUS:
		return fds ? -EINVAL : 0;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_STATUS:
		return sz == sizeof(uint64_t) && !fds ? 0 : -EINVAL;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		if (sz != sizeof(struct vhost_user_vring_state) || fds)
			return -EINVAL;
		return m->p.state.index < VHOST_VQ_MAX ? 0 : -EINVAL;
	case VHOST_USER_SET_VRING_ADDR:
		if (sz != sizeof(struct vhost_user_vring_addr) || fds)
			return -EINVAL;
		return m->p.addr.index < VHOST_VQ_MAX ? 0 : -EINVAL;
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		if (sz != sizeof(uint64_t))
			return -EINVAL;
		if ((m->p.u64 & VHOST_VRING_IDX_MASK) >= VHOST_VQ_MAX)
			return -EINVAL;
		if (m->p.u64 & VHOST_VRING_NOFD_MASK)
			return fds == 0 ? 0 : -EINVAL;
		return fds == 1 ? 0 : -EINVAL;
	case VHOST_USER_SET_MEM_TABLE: {
		uint32_t n;
		if (sz < 8)
			return -EINVAL;
		n = m->p.mem.nregions;
		if (n == 0 || n > VHOST_USER_MEM_REGIONS_MAX || n != fds)
			return -EINVAL;
		return sz == 8 + n * sizeof(struct vhost_user_mem_region) ? 0 : -EINVAL;
	}
	case VHOST_USER_ADD_MEM_REG:
		return sz == sizeof(struct vhost_user_mem_reg) && fds == 1 ? 0 : -EINVAL;
	case VHOST_USER_REM_MEM_REG:
		/* QEMU sends an fd with it although the spec says none: accept both. */
		return sz == sizeof(struct vhost_user_mem_reg) && fds <= 1 ? 0 : -EINVAL;
	case VHOST_USER_SET_BACKEND_REQ_FD:
	case VHOST_USER_SET_LOG_FD:
		return fds == 1 ? 0 : -EINVAL;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		if (sz < VHOST_USER_CONFIG_HDR_SIZE || fds)
			return -EINVAL;
		if (m->p.config.size > VHOST_USER_CONFIG_SPACE_MAX ||
		    m->p.config.offset > VHOST_USER_CONFIG_SPACE_MAX)
			return -EINVAL;
		return sz == VHOST_USER_CONFIG_HDR_SIZE + m->p.config.size ? 0 : -EINVAL;
	case VHOST_USER_GET_INFLIGHT_FD:
		if (sz != sizeof(struct vhost_user_inflight) || fds)
			return -EINVAL;
		if (m->p.inflight.num_queues == 0 || m->p.inflight.num_queues > VHOST_VQ_MAX ||
		    m->p.inflight.queue_size == 0 ||
		    m->p.inflight.queue_size > VHOST_VQ_SIZE_MAX)
			return -EINVAL;
		return 0;
	case VHOST_USER_SET_INFLIGHT_FD:
		if (sz != sizeof(struct vhost_user_inflight) || fds != 1)
			return -EINVAL;
		if (m->p.inflight.num_queues == 0 || m->p.inflight.num_queues > VHOST_VQ_MAX ||
		    m->p.inflight.queue_size == 0 ||
		    m->p.inflight.queue_size > VHOST_VQ_SIZE_MAX)
			return -EINVAL;
		return 0;
	case VHOST_USER_SET_LOG_BASE:
	case VHOST_USER_SET_VRING_ENDIAN:
	case VHOST_USER_IOTLB_MSG:
	case VHOST_USER_VRING_KICK:
	case VHOST_USER_POSTCOPY_ADVISE:
	case VHOST_USER_POSTCOPY_LISTEN:
	case VHOST_USER_POSTCOPY_END:
	case VHOST_USER_SEND_RARP:
	case VHOST_USER_NET_SET_MTU:
	case VHOST_USER_CREATE_CRYPTO_SESSION:
	case VHOST_USER_CLOSE_CRYPTO_SESSION:
	case VHOST_USER_GPU_SET_SOCKET:
		/* Known but not supported here: the device answers with an error. */
		return 0;
	default:
		return -EINVAL;
	}
}

int
vhost_msg_send(int sock, uint32_t request, uint32_t flags, const void *payload,
	       uint32_t payload_len, int fd)
{
	struct vhost_user_hdr hdr = { .request = request, .flags = flags, .size = payload_len };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, payload_len } };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = payload_len ? 2 : 1 };
	size_t total = sizeof(hdr) + payload_len;
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* A Unix stream socket with room takes a small message whole. */
	return (size_t)n == total ? 0 : -EIO;
}

int
vhost_msg_reply(int sock, struct vhost_msg *m, uint32_t payload_len)
{
	return vhost_msg_send(sock, m->hdr.request, VHOST_USER_VERSION | VHOST_USER_REPLY_MASK,
			      &m->p, payload_len, -1);
}

/* ------------------------------------------------------------ memory */

void
vhost_mem_init(struct vhost_mem *mem)
{
	memset(mem, 0, sizeof(*mem));
}

static int
mem_check_new(const struct vhost_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva)
{
	if (size == 0 || gpa + size < gpa || uva + size < uva)
		return -EINVAL;
	if (mem->nregions >= VHOST_MEM_SLOTS_MAX)
		return -ENOSPC;
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct vhost_mem_region *r = &mem->r[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EINVAL;
	}
	return 0;
}

int
vhost_mem_add_mapped(struct vhost_mem *mem, uint64_t gpa, uint64_t size, uint64_t uva, void *hva)
{
	struct vhost_mem_region *r;
	int rc = mem_check_new(mem, gpa, size, uva);

	if (rc < 0)
		return rc;
	r = &mem->r[mem->nregions++];
	memset(r, 0, sizeof(*r));
	r->gpa = gpa;
	r->size = size;
	r->uva = uva;
	r->hva = hva;
	r->fd = -1;
	return 0;
}

int
vhost_mem_add(struct vhost_mem *mem, const struct vhost_user_mem_region *reg, int fd)
{
	struct vhost_mem_region *r;
	struct stat st;
	uint64_t map_len;
	void *addr;
	int rc;

	rc = mem_check_new(mem, reg->guest_phys_addr, reg->memory_size, reg->userspace_addr);
	if (rc < 0)
		return rc;
	map_len = reg->mmap_offset + reg->memory_size;
	if (map_len < reg->mmap_offset || map_len > (uint64_t)SIZE_MAX)
		return -EINVAL;
	/* Touching a mapping past the end of its file is SIGBUS: refuse a
	 * region larger than the file (memfd, hugetlbfs and tmpfs files). */
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) && map_len > (uint64_t)st.st_size)
		return -EINVAL;
	/* Map from offset 0: mmap_offset need not be page aligned. */
	addr = mmap(NULL, (size_t)map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		    fd, 0);
	if (addr == MAP_FAILED)
		return -errno;
	r = &mem->r[mem->nregions++];
	r->gpa = reg->guest_phys_addr;
	r->size = reg->memory_size;
	r->uva = reg->userspace_addr;
	r->mmap_addr = addr;
	r->mmap_size = (size_t)map_len;
	r->hva = (uint8_t *)addr + reg->mmap_offset;
	r->fd = fd;
	return 0;
}

static void
mem_region_release(struct vhost_mem_region *r)
{
	if (r->mmap_addr)
		munmap(r->mmap_addr, r->mmap_size);
	if (r->fd >= 0)
		close(r->fd);
	r->mmap_addr = NULL;
	r->fd = -1;
}

int
vhost_mem_remove(struct vhost_mem *mem, const struct vhost_user_mem_region *reg)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		struct vhost_mem_region *r = &mem->r[i];
		if (r->gpa != reg->guest_phys_addr || r->size != reg->memory_size)
			continue;
		mem_region_release(r);
		mem->r[i] = mem->r[--mem->nregions];
		return 0;
	}
	return -ENOENT;
}

void
vhost_mem_clear(struct vhost_mem *mem)
{
	for (unsigned i = 0; i < mem->nregions; i++)
		mem_region_release(&mem->r[i]);
	mem->nregions = 0;
}

void *
vhost_mem_gpa_to_hva(const struct vhost_mem *mem, uint64_t gpa, uint64_t len, uint64_t *contig)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct vhost_mem_region *r = &mem->r[i];
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		uint64_t left = r->size - (gpa - r->gpa);
		*contig = len < left ? len : left;
		return r->hva + (gpa - r->gpa);
	}
	*contig = 0;
	return NULL;
}

void *
vhost_mem_uva_to_hva(const struct vhost_mem *mem, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < mem->nregions; i++) {
		const struct vhost_mem_region *r = &mem->r[i];
		if (uva < r->uva || uva - r->uva >= r->size)
			continue;
		if (len > r->size - (uva - r->uva))
			return NULL;
		return r->hva + (uva - r->uva);
	}
	return NULL;
}
