/*
 * Striping: pure functions that turn a volume range into object pieces and
 * cut a scatter-gather list into the slices each piece sends or receives,
 * without copying data. No I/O, no state: unit-tested on their own
 * (tests/unit/client_io/test_stripe.c).
 *
 * A volume of object size O is objects 0, 1, ... ; volume byte v lives in
 * object v / O at offset v % O. A request [off, off + len) is cut into pieces
 * that never cross an object boundary and are at most max_piece bytes (the
 * OSD's largest data segment); every piece offset and length is a multiple
 * of TSR_BLOCK_SIZE because off, len, O and max_piece are.
 */
#ifndef TSR_STRIPE_H
#define TSR_STRIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* One object piece of a volume range. */
struct tsr_extent {
	uint64_t obj_idx;  /* object index in the volume */
	uint64_t obj_off;  /* byte offset in the object */
	uint64_t len;      /* bytes */
};

/*
 * The first piece of [off, off + len) (len > 0): the object it starts in,
 * cut at the object's end and at max_piece bytes.
 */
void tsr_stripe_first(uint32_t object_size, uint64_t off, uint64_t len, uint64_t max_piece,
		      struct tsr_extent *out);

/* Number of objects [off, off + len) touches (0 for len 0). */
uint64_t tsr_stripe_count_objects(uint32_t object_size, uint64_t off, uint64_t len);

/*
 * Validate an iovec array: 1..max_cnt entries, total length (returned in
 * *total) without overflow. Zero-length entries are allowed.
 * Returns 0 or -EINVAL.
 */
int tsr_iov_total(const struct iovec *iov, int iovcnt, int max_cnt, uint64_t *total);

/* A position in an iovec array (advanced by tsr_iov_slice). */
struct tsr_iov_cursor {
	const struct iovec *iov;
	int cnt;
	int idx;     /* current entry */
	size_t off;  /* bytes of iov[idx] already consumed */
};

void tsr_iov_cursor_init(struct tsr_iov_cursor *c, const struct iovec *iov, int cnt);

/*
 * Take the next `len` bytes at the cursor as at most max_out iovecs (pointing
 * into the caller's buffers) and advance the cursor. If they need more than
 * max_out entries, take less: the largest multiple of `align` that fits (the
 * cursor advances only by what was taken). Returns the bytes taken (0 if not
 * even `align` bytes fit in max_out entries: the caller's iovecs are too
 * fragmented) and the entry count in *out_cnt.
 */
size_t tsr_iov_slice(struct tsr_iov_cursor *c, size_t len, size_t align, struct iovec *out,
		     int max_out, int *out_cnt);

/* Zero the bytes the iovecs describe. */
void tsr_iov_zero(const struct iovec *iov, int cnt);

/*
 * Merge a piece's result into a request's: the first error wins (errors that
 * arrive later are dropped); success keeps *acc. Returns the new *acc.
 */
static inline int
tsr_result_merge(int *acc, int piece_rc)
{
	if (*acc == 0 && piece_rc < 0)
		*acc = piece_rc;
	return *acc;
}

#endif
