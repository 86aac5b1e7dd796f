/*
 * Every on-disk structure of the OSD (stored as libstore metadata values).
 * Little-endian, fixed width, explicit padding, magic + format + CRC32C
 * (computed with the crc field zeroed).
 */
#ifndef OSD_ONDISK_H
#define OSD_ONDISK_H

#include <stdint.h>

/* One PG log slot: key "pglog.<pool>.<seed hex>.<slot>". */
#define OSD_PGLOG_MAGIC 0x4c475054u /* "TPGL" */
#define OSD_PGLOG_FORMAT 1

struct osd_pglog_disk {
	uint32_t magic;
	uint16_t format;
	uint16_t slot;
	uint32_t pool;
	uint32_t seed;
	uint64_t oid;
	uint64_t version;
	uint64_t client_id;
	uint64_t req_id;
	uint32_t status; /* tessera.Status of the result */
	uint8_t op;      /* tessera.OpType */
	uint8_t pad[3];
	uint32_t crc;
	uint32_t pad2;
};
_Static_assert(sizeof(struct osd_pglog_disk) == 64, "PG log record is 64 bytes");

/*
 * A per-PG marker (osd_pgmark_*, osd_pglog.c): key "pgbf.<pool>.<seed hex>"
 * while a backfill into this member runs (value: the last oid pushed), and
 * "pgint.<pool>.<seed hex>", the newest interval this OSD saw as a member
 * (value: the map epoch; osds: the up members of the acting set).
 */
#define OSD_PGMARK_MAGIC 0x4b4d5054u /* "TPMK" */
#define OSD_PGMARK_FORMAT 1
#define OSD_PGMARK_MAX_OSDS 8

struct osd_pgmark_disk {
	uint32_t magic;
	uint16_t format;
	uint16_t n_osds;
	uint32_t pool;
	uint32_t seed;
	uint64_t value;
	uint32_t osds[OSD_PGMARK_MAX_OSDS];
	uint32_t crc;
	uint32_t pad;
};
_Static_assert(sizeof(struct osd_pgmark_disk) == 64, "PG marker record is 64 bytes");

/* The OSD's identity, in the metadata of partition 0: key "osd.ident". */
#define OSD_IDENT_KEY "osd.ident"
#define OSD_IDENT_MAGIC 0x44534f54u /* "TOSD" */
#define OSD_IDENT_FORMAT 1
#define OSD_UUID_LEN 36

struct osd_ident_disk {
	uint32_t magic;
	uint16_t format;
	uint16_t pad;
	uint32_t n_partitions; /* reactors the device was formatted for */
	uint32_t osd_id;       /* from the monitor; 0 until the first boot */
	uint64_t device_bytes;
	char uuid[40];         /* 36 characters, NUL padded */
	uint32_t crc;
	uint32_t pad2;
};
_Static_assert(sizeof(struct osd_ident_disk) == 72, "OSD ident record is 72 bytes");

#endif
