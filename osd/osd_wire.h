/*
 * OSD wire conventions beyond the .proto files, shared with clients and tests.
 *
 * ClientOp.flags:
 *   OSD_OPF_LOCAL_READ  a read or stat served from this OSD's own copy even
 *                       if it is not the primary (any member of the acting
 *                       set answers). For scrub-like checks and tests: the
 *                       result may be stale on a replica that missed writes.
 *
 * Data segments: OP_WRITE carries `length` bytes; OP_COMPARE_AND_WRITE
 * carries 2 * `length` bytes (the compare bytes, then the write bytes); a
 * read reply carries `length` bytes. Offsets and lengths are multiples of
 * 4096 (the libstore block), offset + length <= the object size.
 */
#ifndef OSD_WIRE_H
#define OSD_WIRE_H

#define OSD_OPF_LOCAL_READ (1u << 0)
#define OSD_OPF__ALL (OSD_OPF_LOCAL_READ)

#define OSD_IO_ALIGN 4096u

#endif
