/*
 * Self-describing data for --verify and the crash test.
 *
 * Every 4 KiB block that tessera-bench writes with --verify starts with a
 * header naming the block (its byte offset in the target's linear address
 * space), the generation of the write that produced it (unique per write, and
 * increasing in issue order), the extent of that whole write, and a CRC32C of
 * the entire block. The rest of the block is pseudo-random bytes derived from
 * (offset, generation), so a block that landed at the wrong place, a stale
 * block, a torn sector and a flipped bit are all told apart.
 */
#ifndef BENCH_VERIFY_H
#define BENCH_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_BLOCK 4096u
#define BENCH_VERIFY_MAGIC 0x48434e4542525354ull /* "TSRBENCH" little-endian */

struct bench_vhdr {
	uint64_t magic;
	uint64_t offset_bytes;  /* this block's offset in the linear address space */
	uint64_t gen;           /* generation of the write; never 0 */
	uint64_t write_off;     /* extent of the whole write this block belongs to */
	uint32_t write_len;
	uint32_t job;
	uint32_t pad;
	uint32_t crc;           /* CRC32C of the 4 KiB block with this field zero */
};
_Static_assert(sizeof(struct bench_vhdr) == 48, "bench_vhdr layout");

enum bench_verify_status {
	BENCH_V_OK = 0,
	BENCH_V_ZERO,      /* all zeros: never written */
	BENCH_V_BADMAGIC,  /* not one of our blocks (and not zeros) */
	BENCH_V_BADOFF,    /* one of our blocks, written for another offset */
	BENCH_V_BADCRC,    /* header fine but contents torn or corrupt */
};

/* Fill one block for (off, gen) of the write [write_off, write_off + write_len). */
void bench_verify_fill(void *block, uint64_t off, uint64_t gen, uint64_t write_off,
		       uint32_t write_len, uint32_t job);

/* Fill every block of a len-byte buffer for the write at off. len is 4 KiB aligned. */
void bench_verify_fill_io(void *buf, uint64_t off, uint32_t len, uint64_t gen, uint32_t job);

/*
 * Check one block read from offset off. On BENCH_V_OK *hdr holds its header;
 * on BENCH_V_BADOFF and BENCH_V_BADCRC *hdr holds what the header claims.
 */
enum bench_verify_status bench_verify_check(const void *block, uint64_t off,
					    struct bench_vhdr *hdr);

const char *bench_verify_status_str(enum bench_verify_status s);

#endif
