/*
 * Error codes.
 *
 * Every function that acts returns 0 (or a count) on success and a negative errno
 * value on failure. Conditions errno cannot express are declared once below, in
 * one X-macro list, with values from 2000 up; rt_strerror() (and the public
 * tsr_strerror()) describe both ranges. Host errno values never go on the wire:
 * proto/frame.h has its own status enum with conversion functions.
 */
#ifndef RT_ERR_H
#define RT_ERR_H

#define RT_ERR_BASE 2000

/* name, value offset, description */
#define RT_ERR_LIST(X)                                                                     \
	X(RT_ESTALE_EPOCH, 0, "the sender's cluster map epoch is stale")                   \
	X(RT_ENOTPRIMARY, 1, "this OSD is not the primary of the placement group")          \
	X(RT_EPGINACTIVE, 2, "the placement group is not active (peering or incomplete)")   \
	X(RT_ECSUM, 3, "data checksum mismatch")                                            \
	X(RT_EBADMAGIC, 4, "bad magic number")                                              \
	X(RT_EBADVERSION, 5, "unsupported format or protocol version")                      \
	X(RT_EBADCRC, 6, "header CRC32C mismatch")                                          \
	X(RT_ETOOBIG, 7, "length exceeds the configured maximum")                           \
	X(RT_EBADMSG_PB, 8, "protobuf message failed to decode")                            \
	X(RT_EMISCOMPARE, 9, "compare-and-write miscompare")                                \
	X(RT_ENOQUORUM, 10, "monitor quorum unavailable")                                   \
	X(RT_ENOTLEADER, 11, "this monitor is not the leader")                              \
	X(RT_EBADTYPE, 12, "unknown message type")                                          \
	X(RT_ECORRUPT, 13, "on-disk structure is corrupt")

enum rt_err {
#define RT_ERR_ENUM(name, off, desc) name = RT_ERR_BASE + (off),
	RT_ERR_LIST(RT_ERR_ENUM)
#undef RT_ERR_ENUM
	RT_ERR_END
};

/*
 * Describe an error: accepts rc as returned (negative) or positive; errno values
 * use strerror's text, RT_E* values the table above. Never returns NULL; the
 * string is static.
 */
const char *rt_strerror(int rc);

/* Print an error the one way: "%s (%d)" with DP_RC(rc). */
#define DF_RC "%s (%d)"
#define DP_RC(rc) rt_strerror(rc), (rc)

#endif
