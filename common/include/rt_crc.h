/* CRC32C (Castagnoli), as used by every on-disk record and frame header. */
#ifndef RT_CRC_H
#define RT_CRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * CRC32C of buf, continuing from crc (pass 0 to start). The usual
 * pre/post-inversion is applied, so chaining calls equals one call over the
 * concatenation. Uses ISA-L's crc32_iscsi (SSE4.2/PCLMUL where available).
 */
uint32_t rt_crc32c(uint32_t crc, const void *buf, size_t len);

/* CRC32C over an iovec array, as if the segments were concatenated. */
uint32_t rt_crc32c_iov(uint32_t crc, const struct iovec *iov, int iovcnt);

#endif
