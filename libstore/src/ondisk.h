/*
 * Every on-disk structure of libstore, in one place (docs/libstore.md).
 *
 * All fields are fixed-width little-endian (the code runs on little-endian
 * hosts only: see the assert below), padding is explicit and every record
 * carries a magic, a format version and a CRC32C (computed with the crc field
 * set to zero).
 *
 * Partition layout, in 4 KiB blocks relative to the partition start:
 *   [0]                      superblock
 *   [1, 1+J)                 journal ring (J blocks)
 *   [ckpt_blk[0], +C)        checkpoint slot A
 *   [ckpt_blk[1], +C)        checkpoint slot B
 *   [data_start, data_end)   data area (4 KiB blocks managed by the allocator)
 * Block numbers stored in checkpoints and journal entries are partition
 * relative.
 */
#ifndef ST_ONDISK_H
#define ST_ONDISK_H

#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "libstore: little-endian hosts only");

#define ST_BLK 4096u
#define ST_FORMAT_VERSION 2u

#define ST_SB_MAGIC 0x31425354u   /* "TSB1" */
#define ST_CKPT_MAGIC 0x4b435354u /* "TSCK" */
#define ST_JREC_MAGIC 0x524a5354u /* "TSJR" */

/* Superblock, at block 0 of the partition (rest of the block is zero). */
struct st_sb {
	uint32_t magic;
	uint32_t version;
	uint32_t crc;       /* CRC32C of this struct with crc = 0 */
	uint32_t sb_bytes;  /* sizeof(struct st_sb) */
	uint8_t uuid[16];
	uint64_t part_bytes;       /* partition length the store was formatted for */
	uint32_t block_bytes;      /* 4096 */
	uint32_t max_object_bytes;
	uint64_t journal_blk;      /* first journal block */
	uint64_t journal_blks;
	uint64_t ckpt_blk[2];
	uint64_t ckpt_blks;        /* size of one checkpoint slot */
	uint64_t data_blk;
	uint64_t data_blks;
	uint64_t max_objects;
	uint64_t meta_bytes;
	uint64_t format_time_s;
	uint8_t reserved[128];
};
_Static_assert(sizeof(struct st_sb) == 256, "st_sb size");

/*
 * Checkpoint: a full image of the index and the metadata table, written to the
 * slot (gen & 1). Header at the slot's first bytes, followed by
 * n_objects st_ckpt_obj, n_blocks st_ckpt_blk, n_meta st_ckpt_meta records.
 * crc covers used_bytes from the slot start (with crc = 0).
 * Replay starts at journal block counter journal_head (position
 * journal_head % journal_blks) with record seq journal_seq and record
 * generation journal_gen (gen when journal_gen is 0: checkpoints written
 * before the field existed).
 *
 * gen counts checkpoints (it picks the slot); journal_gen counts runs: open
 * bumps it in the checkpoint it writes after recovery, so no record of an
 * earlier run is ever replayed again, while the checkpoints a run writes in
 * the background keep it, so the records written while one was in progress
 * replay after the previous checkpoint as well as after the new one.
 * A checkpoint is fuzzy (docs/libstore.md): it may hold the effect of
 * records at or after journal_head, which replay applies again (every entry
 * sets absolute state, so replay is idempotent).
 */
struct st_ckpt_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t crc;
	uint32_t hdr_bytes;
	uint8_t uuid[16];
	uint64_t gen;
	uint64_t journal_head;
	uint64_t journal_seq;
	uint64_t n_objects;
	uint64_t n_blocks;
	uint64_t n_meta;
	uint64_t used_bytes;
	uint64_t journal_gen;
	uint8_t reserved[32];
};
_Static_assert(sizeof(struct st_ckpt_hdr) == 128, "st_ckpt_hdr size");

struct st_ckpt_obj {
	uint32_t pool;
	uint32_t reserved;
	uint64_t oid;
	uint64_t version;
};
_Static_assert(sizeof(struct st_ckpt_obj) == 24, "st_ckpt_obj size");

/* One mapped 4 KiB block: object obj_idx (in this checkpoint), its lblock. */
struct st_ckpt_blk {
	uint32_t obj_idx;
	uint32_t lblock;
	uint32_t pblock;
	uint32_t crc; /* CRC32C of the block's data */
};
_Static_assert(sizeof(struct st_ckpt_blk) == 16, "st_ckpt_blk size");

/* Followed by key_len bytes of key, val_len bytes of value, zero pad to 8. */
struct st_ckpt_meta {
	uint16_t key_len;
	uint16_t reserved;
	uint32_t val_len;
};
_Static_assert(sizeof(struct st_ckpt_meta) == 8, "st_ckpt_meta size");

/*
 * Journal record: [header + entries, zero-padded to hdr_blks blocks]
 * [data_blks data blocks]. It may wrap around the end of the ring. crc covers
 * the whole record (len_blks blocks) with crc = 0. A record is valid only if
 * magic, version, uuid, gen and seq are the expected ones and the crc matches:
 * a stale record left from an earlier lap of the ring or an earlier
 * generation is never replayed.
 *
 * Up to ST_JINFLIGHT_MAX records are written at once (they complete, and their
 * operations are acknowledged, in sequence order). Replay ends at the first
 * invalid record; of the records before it, only the last one and the
 * prev_inflight ones before it can reference redirect-on-write data that never
 * became durable (version 2; version 1 wrote one record at a time).
 */
struct st_jrec_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint32_t crc;
	uint32_t len_blks;
	uint8_t uuid[16];
	uint64_t gen;
	uint64_t seq;
	uint32_t hdr_blks;
	uint32_t n_entries;
	uint32_t entries_bytes; /* bytes of entries after this header */
	uint32_t prev_inflight; /* records before this one not yet complete when it
				 * was written (their RoW data may not be durable) */
};
_Static_assert(sizeof(struct st_jrec_hdr) == 64, "st_jrec_hdr size");

enum st_jent_type {
	ST_JE_WRITE_J = 1,  /* data in this record; followed by crc[nblocks] */
	ST_JE_WRITE_ROW = 2,/* data in pblock[]; followed by pblock[nblocks], crc[nblocks] */
	ST_JE_UNMAP = 3,    /* discard / write-zeroes of [lblock, +nblocks) */
	ST_JE_DELETE = 4,   /* delete the object */
	ST_JE_META_SET = 5, /* lblock = key_len, nblocks = val_len; key, value follow */
	ST_JE_META_DEL = 6, /* lblock = key_len; key follows */
};

/* A journal entry; len_bytes includes the trailing arrays, multiple of 8. */
struct st_jent {
	uint16_t type;
	uint16_t reserved;
	uint32_t len_bytes;
	uint32_t pool;
	uint32_t nblocks;
	uint64_t oid;
	uint64_t version;
	uint32_t lblock;
	uint32_t data_idx; /* WRITE_J: first data block, relative to the data part */
};
_Static_assert(sizeof(struct st_jent) == 40, "st_jent size");

#endif
