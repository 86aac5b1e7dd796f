#include "bench_verify.h"

#include <string.h>

#include "rt_crc.h"

static inline uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t
block_crc(const void *block)
{
	const unsigned char *p = block;
	const size_t crc_off = offsetof(struct bench_vhdr, crc);
	static const uint32_t zero;
	uint32_t crc;

	crc = rt_crc32c(0, p, crc_off);
	crc = rt_crc32c(crc, &zero, sizeof(zero));
	return rt_crc32c(crc, p + crc_off + sizeof(zero), BENCH_BLOCK - crc_off - sizeof(zero));
}

void
bench_verify_fill(void *block, uint64_t off, uint64_t gen, uint64_t write_off,
		  uint32_t write_len, uint32_t job)
{
	struct bench_vhdr h = {
		.magic = BENCH_VERIFY_MAGIC,
		.offset_bytes = off,
		.gen = gen,
		.write_off = write_off,
		.write_len = write_len,
		.job = job,
	};
	uint64_t seed = off * 0x2545f4914f6cdd1dull ^ gen;
	uint64_t *w = block;

	for (size_t i = sizeof(h) / 8; i < BENCH_BLOCK / 8; i++)
		w[i] = splitmix64(&seed);
	memcpy(block, &h, sizeof(h));
	h.crc = block_crc(block);
	memcpy(block, &h, sizeof(h));
}

void
bench_verify_fill_io(void *buf, uint64_t off, uint32_t len, uint64_t gen, uint32_t job)
{
	for (uint32_t done = 0; done < len; done += BENCH_BLOCK)
		bench_verify_fill((char *)buf + done, off + done, gen, off, len, job);
}

static bool
is_zero(const void *block)
{
	const uint64_t *w = block;

	for (size_t i = 0; i < BENCH_BLOCK / 8; i++)
		if (w[i])
			return false;
	return true;
}

enum bench_verify_status
bench_verify_check(const void *block, uint64_t off, struct bench_vhdr *hdr)
{
	memcpy(hdr, block, sizeof(*hdr));
	if (hdr->magic != BENCH_VERIFY_MAGIC)
		return is_zero(block) ? BENCH_V_ZERO : BENCH_V_BADMAGIC;
	if (block_crc(block) != hdr->crc)
		return BENCH_V_BADCRC;
	if (hdr->offset_bytes != off)
		return BENCH_V_BADOFF;
	return BENCH_V_OK;
}

const char *
bench_verify_status_str(enum bench_verify_status s)
{
	switch (s) {
	case BENCH_V_OK:
		return "ok";
	case BENCH_V_ZERO:
		return "all zeros (never written or lost)";
	case BENCH_V_BADMAGIC:
		return "not a tessera-bench block (garbage)";
	case BENCH_V_BADOFF:
		return "block written for another offset (misdirected)";
	case BENCH_V_BADCRC:
		return "block checksum mismatch (torn or corrupt)";
	}
	return "?";
}
