/*
 * libFuzzer target for the frame decoder: the whole-buffer path
 * (frame_decode) and the streaming path a receiver uses (header, then message
 * into a small arena, then data CRC), with the default and tight limits.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "rt_crc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rt_arena arena, small;
	static int ready;
	struct frame_limits lim, tight;
	struct frame f;
	struct frame_hdr hdr;
	size_t need;

	if (!ready) {
		if (rt_arena_init(&arena, 1 << 20) || rt_arena_init(&small, 512))
			abort();
		ready = 1;
	}
	frame_limits_init(&lim);
	tight.max_msg_len = 256;
	tight.max_data_len = 4096;

	/*
	 * The header CRC would stop most mutations at the first check; when the
	 * input's last byte is odd, fix the CRC up so the fuzzer reaches the
	 * length checks and the protobuf decoder.
	 */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	if (size >= FRAME_HDR_LEN && (data[size - 1] & 1)) {
		uint32_t crc = rt_crc32c(0, copy, offsetof(struct frame_hdr_wire, hdr_crc));
		memcpy(copy + offsetof(struct frame_hdr_wire, hdr_crc), &crc, sizeof(crc));
	}
	data = copy;

	rt_arena_reset(&arena);
	ssize_t n = frame_decode(data, size, &lim, &arena, &f, &need);
	if (n > 0) {
		/* A decoded frame is fully inside the input and re-encodes. */
		if ((size_t)n > size)
			abort();
		size_t cap = frame_encoded_size(f.msg);
		uint8_t *out = malloc(cap);
		if (!out)
			abort();
		struct iovec iov = {(void *)f.data, f.hdr.data_len};
		ssize_t m = frame_encode(out, cap, f.hdr.type, f.hdr.tag, f.hdr.flags, f.msg,
					 &iov, 1);
		if (m < 0 || (size_t)m != cap)
			abort();
		free(out);
	} else if (n == -EAGAIN && need <= size) {
		abort();
	}

	/* Streaming path with a tiny arena. */
	if (size >= FRAME_HDR_LEN && frame_hdr_decode(data, &tight, &hdr) == 0 &&
	    size >= FRAME_HDR_LEN + (size_t)hdr.msg_len) {
		ProtobufCMessage *msg;

		rt_arena_reset(&small);
		if (frame_msg_decode(&hdr, data + FRAME_HDR_LEN, &small, &msg) == 0 &&
		    small.used > small.cap)
			abort();
		size_t avail = size - FRAME_HDR_LEN - hdr.msg_len;
		struct iovec iov = {(void *)(data + FRAME_HDR_LEN + hdr.msg_len),
				    avail < hdr.data_len ? avail : hdr.data_len};
		(void)frame_data_verify(&hdr, &iov, 1);
	}
	free(copy);
	return 0;
}
