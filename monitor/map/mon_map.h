/*
 * The cluster map as plain C structs: what the monitor's core logic (commands,
 * placement, health) works on. Protobuf types never appear here; the
 * conversion lives in mon_map_pb.c.
 *
 * A published map is immutable: a change clones the current map, applies a
 * command to the clone and publishes the clone under epoch + 1. Older maps are
 * kept for a while (history) so that incrementals can be computed.
 *
 * Ownership: every array is owned by its map; mon_map_destroy() frees all.
 */
#ifndef MON_MAP_H
#define MON_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MON_NAME_MAX 64
#define MON_HOST_MAX 64
#define MON_UUID_MAX 64
#define MON_VOL_NAME_MAX 128
#define MON_MAX_REPLICAS 8
#define MON_MAX_REACTORS 256
#define MON_MAX_PG_COUNT 65536
#define MON_OSD_NONE UINT32_MAX

/* Format macros: IDs print one way everywhere. */
#define DF_OSD "osd.%u"
#define DF_EPOCH "e%llu"
#define DP_EPOCH(e) ((unsigned long long)(e))
#define DF_PG "%u.%x"

struct mon_addr {
	char host[MON_HOST_MAX];
	uint16_t port;
};

struct mon_osd {
	uint32_t id;
	char uuid[MON_UUID_MAX];
	char host[MON_HOST_MAX];
	char failure_domain[MON_HOST_MAX]; /* defaults to host */
	struct mon_addr *reactors;
	uint32_t n_reactors;
	bool up;
	bool in;
	bool auto_out; /* marked out by the failure detector (comes back in on boot) */
	double weight;
	uint64_t device_bytes;
	uint64_t used_bytes;
	uint64_t up_since_epoch;
	uint64_t down_at_us; /* monitor wall clock when marked down, 0 if up */
};

struct mon_pg {
	uint8_t n_acting;
	uint32_t acting[MON_MAX_REPLICAS]; /* ordered, acting[0] is the primary */
};

struct mon_pool {
	uint32_t id;
	char name[MON_NAME_MAX];
	uint32_t size;
	uint32_t min_size;
	uint32_t pg_count;
	struct mon_pg *pgs; /* pg_count entries */
};

struct mon_snap {
	uint64_t id;
	char name[MON_NAME_MAX];
	uint64_t size;
};

struct mon_volume {
	uint64_t id;
	char name[MON_VOL_NAME_MAX];
	uint32_t pool;
	uint64_t size;
	uint32_t object_size;
	uint64_t features;
	uint64_t parent_id;
	uint64_t parent_snap;
	struct mon_snap *snaps;
	uint32_t n_snaps;
};

struct mon_map {
	uint64_t epoch;
	char fsid[40];
	uint64_t created_us;
	uint32_t next_osd_id;
	uint32_t next_pool_id;
	uint64_t next_volume_id;
	struct mon_osd *osds; /* sorted by id */
	uint32_t n_osds;
	struct mon_pool *pools; /* sorted by id */
	uint32_t n_pools;
	struct mon_volume *vols; /* sorted by id */
	uint32_t n_vols;
};

/* A new empty map (epoch 0). Returns NULL on ENOMEM. */
struct mon_map *mon_map_create(void);
/* Deep copy. Returns NULL on ENOMEM. */
struct mon_map *mon_map_clone(const struct mon_map *m);
/* Free the map and everything it owns; sets *m to NULL. */
void mon_map_destroy(struct mon_map **m);

struct mon_osd *mon_map_osd(const struct mon_map *m, uint32_t id);
struct mon_osd *mon_map_osd_by_uuid(const struct mon_map *m, const char *uuid);
struct mon_pool *mon_map_pool(const struct mon_map *m, uint32_t id);
struct mon_pool *mon_map_pool_by_name(const struct mon_map *m, const char *name);
struct mon_volume *mon_map_vol_by_name(const struct mon_map *m, const char *name);

/* Insert keeping the arrays sorted; the map takes ownership of the arrays inside. */
int mon_map_osd_insert(struct mon_map *m, const struct mon_osd *o);
void mon_map_osd_remove(struct mon_map *m, uint32_t id);
int mon_map_pool_insert(struct mon_map *m, const struct mon_pool *p);
void mon_map_pool_remove(struct mon_map *m, uint32_t id);
int mon_map_vol_insert(struct mon_map *m, const struct mon_volume *v);
void mon_map_vol_remove(struct mon_map *m, uint64_t id);

/* Recompute the PG table of every pool from the OSDs (placement). Returns 0 or -ENOMEM. */
int mon_map_remap(struct mon_map *m);

/* Equality of the parts an incremental carries. */
bool mon_osd_equal(const struct mon_osd *a, const struct mon_osd *b);
bool mon_pool_equal_meta(const struct mon_pool *a, const struct mon_pool *b);
bool mon_pg_equal(const struct mon_pg *a, const struct mon_pg *b);
bool mon_volume_equal(const struct mon_volume *a, const struct mon_volume *b);

/* PG states computed from the map alone (OSDs report finer states later). */
enum mon_pg_state {
	MON_PG_CLEAN,      /* all `size` replicas up */
	MON_PG_DEGRADED,   /* >= min_size but < size replicas up: active+undersized+degraded */
	MON_PG_INACTIVE,   /* < min_size replicas up, > 0 */
	MON_PG_DOWN,       /* no replica up */
	MON_PG__COUNT,
};
enum mon_pg_state mon_pg_state_of(const struct mon_pool *p, const struct mon_pg *pg);
const char *mon_pg_state_name(enum mon_pg_state s);

/* Parse "host:port" / "[v6]:port". Returns 0 or -EINVAL. */
int mon_addr_parse(const char *s, struct mon_addr *out);

#endif
