/*
 * libFuzzer target for vhost-user message handling: the input is a sequence
 * of messages (header, payload, a count of fds to attach), each validated and
 * applied to a device on a RAM disk exactly as the control thread does, with
 * real fds (small memfds for memory regions, eventfds otherwise) and replies
 * drained from the other end of a socketpair. Queue threads may start when
 * the input sets up a ring; the device is torn down at the end of each input.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt_log.h"
#include "vhost_blk.h"
#include "vhost_user.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
drain(int fd)
{
	char buf[8192];
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr a;
	} ctl;

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
				     .msg_controllen = sizeof(ctl.b) };
		if (recvmsg(fd, &mh, MSG_DONTWAIT) <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_type != SCM_RIGHTS)
				continue;
			int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < n; i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(f);
			}
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vhost_bdev *bdev;
	static struct vhost_dev dev;
	static struct vhost_msg m;
	struct vhost_dev_opts opts = { .max_queues = 2, .poll_us = 0 };
	int sv[2];
	size_t pos = 0;

	if (!bdev) {
		rt_log_init("fuzz_vhost_msg", "/dev/null", RT_LOG_ERR);
		if (vhost_bdev_malloc_open(1 << 20, "fuzz", &bdev) < 0)
			abort();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	vhost_dev_init(&dev, sv[0], bdev, &opts);
	/* Each message: u8 request, u8 flags, u8 nfds, u16 size, payload. */
	for (unsigned count = 0; count < 32 && pos + 5 <= size; count++) {
		uint16_t len;
		memset(&m, 0, sizeof(m));
		m.hdr.request = data[pos];
		m.hdr.flags = VHOST_USER_VERSION | (data[pos + 1] & VHOST_USER_NEED_REPLY_MASK);
		m.nfds = data[pos + 2] % 3;
		memcpy(&len, data + pos + 3, 2);
		pos += 5;
		if (len > size - pos)
			len = (uint16_t)(size - pos);
		if (len > VHOST_USER_PAYLOAD_MAX)
			len = VHOST_USER_PAYLOAD_MAX;
		m.hdr.size = len;
		memcpy(&m.p, data + pos, len);
		pos += len;
		for (unsigned i = 0; i < m.nfds; i++) {
			if (m.hdr.request == VHOST_USER_SET_MEM_TABLE ||
			    m.hdr.request == VHOST_USER_ADD_MEM_REG ||
			    m.hdr.request == VHOST_USER_SET_INFLIGHT_FD) {
				m.fds[i] = memfd_create("fuzz", MFD_CLOEXEC);
				if (m.fds[i] >= 0 && ftruncate(m.fds[i], 65536) < 0)
					abort();
			} else {
				m.fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
			}
		}
		int rc = vhost_dev_handle(&dev, &m);
		drain(sv[1]);
		if (rc < 0)
			break;
	}
	vhost_dev_fini(&dev);
	pthread_mutex_destroy(&dev.backend_lock);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
