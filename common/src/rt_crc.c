#include "rt_crc.h"

#include <isa-l/crc.h>

/*
 * ISA-L's crc32_iscsi() takes and returns the raw register (no inversion):
 * crc32_iscsi(buf, len, 0xffffffff) ^ 0xffffffff is the standard CRC32C. We keep
 * the standard, chainable form at our API.
 */
uint32_t
rt_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* crc32_iscsi takes an int length; feed big buffers in chunks. */
	const unsigned char *p = buf;
	uint32_t reg = ~crc;

	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		reg = crc32_iscsi((unsigned char *)p, (int)n, reg);
		p += n;
		len -= n;
	}
	return ~reg;
}

uint32_t
rt_crc32c_iov(uint32_t crc, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++)
		crc = rt_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	return crc;
}
