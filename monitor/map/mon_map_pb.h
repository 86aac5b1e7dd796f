/*
 * Conversion between the plain-C map (mon_map.h) and its protobuf form
 * (map.proto), and of map commands (mon_cmd.h) to and from their log-entry
 * form. The only place, with the *_rpc.c files, where protobuf types appear.
 *
 * Trees returned by *_to_pb() are malloc'd and freed with the matching
 * *_pb_free(); strings inside them point into the source map, which must
 * outlive the tree.
 */
#ifndef MON_MAP_PB_H
#define MON_MAP_PB_H

#include <stddef.h>
#include <stdint.h>

#include "map.pb-c.h"
#include "mon.pb-c.h"
#include "mon_cmd.h"
#include "mon_map.h"

/* Monitors of the cluster, carried in the map's `mons` list. */
struct mon_map_pb_mons {
	uint32_t n;
	const uint32_t *ids;
	const struct mon_addr *addrs;
};

/* Build a ClusterMap tree. mons may be NULL. Returns NULL on ENOMEM. */
Tessera__ClusterMap *mon_map_to_pb(const struct mon_map *m, const struct mon_map_pb_mons *mons);
void mon_map_pb_free(Tessera__ClusterMap *pb);

/*
 * Build a plain map from a decoded ClusterMap, validating it (sorted unique
 * ids, sizes in range, acting sets that fit). Returns 0 or -EBADMSG / -ENOMEM.
 */
int mon_map_from_pb(const Tessera__ClusterMap *pb, struct mon_map **out);

/* The changes from old to new (new values of what changed). NULL on ENOMEM. */
Tessera__MapIncremental *mon_map_inc_to_pb(const struct mon_map *old, const struct mon_map *nw);
void mon_map_inc_pb_free(Tessera__MapIncremental *pb);

/* Whole-map serialisation (snapshots): magic, version, length, CRC32C, ClusterMap. */
#define MON_SNAP_MAGIC 0x504d5354u /* "TSMP" */
#define MON_SNAP_VERSION 1
#define MON_SNAP_HDR_LEN 16
size_t mon_map_packed_size(const struct mon_map *m);
/* Pack into buf (mon_map_packed_size bytes). Returns bytes written or -ENOMEM. */
long mon_map_pack(const struct mon_map *m, void *buf, size_t cap);
/* Returns 0 or -EBADMSG / -RT_EBADCRC / -RT_EBADMAGIC / -ENOMEM. */
int mon_map_unpack(const void *buf, size_t len, struct mon_map **out);

/* Commands <-> AdminCommand bytes (Raft log entries). */
size_t mon_cmd_packed_size(const struct mon_cmd *c);
size_t mon_cmd_pack(const struct mon_cmd *c, void *buf);
/*
 * Decode; c's strings point into *pb, which the caller frees with
 * tessera__admin_command__free_unpacked(*pb, NULL). Returns 0 or -EBADMSG / -E2BIG.
 */
int mon_cmd_unpack(const void *buf, size_t len, Tessera__AdminCommand **pb, struct mon_cmd *c);

#endif
