/*
 * bench_corrupt FILE OFFSET [--zero]: damage every copy of tessera-bench's
 * verify block for linear offset OFFSET found in FILE (at 4 KiB-aligned
 * positions: libstore keeps data blocks aligned, in the data area and in
 * journal records), by flipping one payload byte (--zero: zeroing the block). Prints how many copies it changed; exit 0 if at
 * least one, 1 if none, 2 on a usage or I/O error. A test tool: it does not
 * know libstore's format, only the self-describing blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_verify.h"

int
main(int argc, char **argv)
{
	static unsigned char buf[1 << 20] __attribute__((aligned(4096)));
	unsigned long long want;
	char *end;
	off_t pos = 0;
	unsigned copies = 0;
	int fd;

	bool zero = argc == 4 && strcmp(argv[3], "--zero") == 0;

	if (argc != 3 && !zero) {
		fprintf(stderr, "usage: bench_corrupt FILE OFFSET [--zero]\n");
		return 2;
	}
	errno = 0;
	want = strtoull(argv[2], &end, 0);
	if (errno || *end || want % BENCH_BLOCK) {
		fprintf(stderr, "bench_corrupt: bad offset '%s' (a 4096 multiple)\n", argv[2]);
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		fprintf(stderr, "bench_corrupt: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), pos);

		if (n < 0) {
			fprintf(stderr, "bench_corrupt: read: %s\n", strerror(errno));
			close(fd);
			return 2;
		}
		if (n < (ssize_t)BENCH_BLOCK)
			break;
		for (ssize_t i = 0; i + (ssize_t)BENCH_BLOCK <= n; i += BENCH_BLOCK) {
			struct bench_vhdr h;
			unsigned char *b = buf + i;

			memcpy(&h, b, sizeof(h));
			if (h.magic != BENCH_VERIFY_MAGIC || h.offset_bytes != want)
				continue;
			if (zero)
				memset(b, 0, BENCH_BLOCK);
			else
				b[BENCH_BLOCK / 2] ^= 0x5a;
			if (pwrite(fd, b, BENCH_BLOCK, pos + i) != (ssize_t)BENCH_BLOCK) {
				fprintf(stderr, "bench_corrupt: write: %s\n", strerror(errno));
				close(fd);
				return 2;
			}
			printf("bench_corrupt: damaged the copy at file offset %" PRIu64 "\n",
			       (uint64_t)(pos + i));
			copies++;
		}
		pos += n / BENCH_BLOCK * BENCH_BLOCK;
	}
	if (fsync(fd) < 0)
		fprintf(stderr, "bench_corrupt: fsync: %s\n", strerror(errno));
	close(fd);
	if (!copies)
		fprintf(stderr, "bench_corrupt: no block for offset %llu in %s\n", want, argv[1]);
	return copies ? 0 : 1;
}
