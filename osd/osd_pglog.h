/*
 * The PG log: the recent mutations of one placement group, newest version
 * last, kept by the primary and by every replica.
 *
 * Each entry records (object, version, op, client id, client request id,
 * result). Phase 1 uses it for duplicate detection: a request resent with the
 * same (client_id, req_id) is answered from its entry (original result and
 * version) and never applied twice. Peering and log-based recovery (phase 2)
 * will use the same entries.
 *
 * In memory the log is a ring of `cap` slots. On disk every slot is one
 * libstore metadata key, "pglog.<pool>.<seed hex>.<slot>", whose value is a
 * struct osd_pglog_disk (osd_ondisk.h: magic, format, CRC32C). Appending
 * overwrites the oldest slot, so the log trims itself with no extra I/O and
 * each op persists one small record (a META_SET in the same journal as its
 * data). libstore applies journal entries in order, so two writes of one slot
 * key land in submission order.
 *
 * Loading: the reactor iterates the "pglog." keys of its store, decodes each
 * value (a bad one is skipped and counted, never fatal), puts it in its slot
 * and calls osd_pglog_load_done(), which finds the newest entry (the ring's
 * head) and the PG's last version.
 *
 * Versions are u64 (epoch << 32 | seq); 0 means "no entry".
 */
#ifndef OSD_PGLOG_H
#define OSD_PGLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osd_ondisk.h"
#include "st.h"

#define OSD_PGLOG_MAX_CAP 4096
#define OSD_PGLOG_KEY_PREFIX "pglog."
#define OSD_PGLOG_KEY_MAX 48

struct osd_pglog_entry {
	uint64_t version;      /* 0: empty slot */
	struct st_obj_id obj;
	uint64_t client_id;
	uint64_t req_id;
	int32_t result;        /* 0 or a negative errno */
	uint8_t op;            /* OpType of the request */
	uint16_t slot;
};

struct osd_pglog {
	uint32_t pool;
	uint32_t seed;
	uint32_t cap;          /* slots */
	uint32_t n;            /* valid entries */
	uint32_t head;         /* the slot the next append takes */
	uint64_t last_version; /* newest version ever appended or loaded */
	struct osd_pglog_entry *ents; /* cap slots */
	uint64_t load_errors;  /* records skipped at load */
};

/* Allocate cap slots (1..OSD_PGLOG_MAX_CAP). Control path. Returns 0, -EINVAL, -ENOMEM. */
int osd_pglog_init(struct osd_pglog *l, uint32_t pool, uint32_t seed, uint32_t cap);
void osd_pglog_fini(struct osd_pglog *l);

/*
 * Append an entry at the head slot (the oldest entry there is trimmed) and
 * return the stored copy (its slot filled in). e->version must be non-zero.
 */
struct osd_pglog_entry *osd_pglog_append(struct osd_pglog *l, const struct osd_pglog_entry *e);

/* The newest entry with this (client_id, req_id), or NULL. client_id 0 never matches. */
const struct osd_pglog_entry *osd_pglog_find_dup(const struct osd_pglog *l, uint64_t client_id,
						uint64_t req_id);

/* The oldest and newest versions held (0 if empty). */
uint64_t osd_pglog_tail_version(const struct osd_pglog *l);

/* Persistence. */

/* The key of a slot into buf (>= OSD_PGLOG_KEY_MAX). Returns its length. */
uint32_t osd_pglog_key(uint32_t pool, uint32_t seed, uint32_t slot, char *buf, size_t len);

/* Parse a key. Returns 0 or -EINVAL. */
int osd_pglog_key_parse(const void *key, uint32_t key_len, uint32_t *pool, uint32_t *seed,
			uint32_t *slot);

void osd_pglog_encode(const struct osd_pglog *l, const struct osd_pglog_entry *e,
		      struct osd_pglog_disk *out);

/*
 * Decode a stored record. Returns 0, -RT_EBADMAGIC, -RT_EBADVERSION,
 * -RT_EBADCRC, -EBADMSG (wrong size or fields out of range).
 */
int osd_pglog_decode(const void *buf, size_t len, uint32_t *pool, uint32_t *seed,
		     struct osd_pglog_entry *out);

/* Put a decoded entry into its slot (slots >= cap are ignored: -ERANGE). */
int osd_pglog_load_entry(struct osd_pglog *l, const struct osd_pglog_entry *e);

/* After loading: set head, n and last_version from the slots. */
void osd_pglog_load_done(struct osd_pglog *l);

/*
 * Per-PG markers (struct osd_pgmark_disk): the backfill marker of a member
 * being backfilled, the pull marker of a primary pulling in the background,
 * and the newest interval (up acting set) an OSD saw.
 */
#define OSD_PGBF_KEY_PREFIX "pgbf."
#define OSD_PGINT_KEY_PREFIX "pgint."
#define OSD_PGPL_KEY_PREFIX "pgpl."

struct osd_pgmark {
	uint64_t value; /* pgbf: last oid pushed; pgint: map epoch */
	uint32_t n_osds;
	uint32_t osds[OSD_PGMARK_MAX_OSDS];
};

/* The key "<prefix><pool>.<seed hex>" into buf. Returns its length. */
uint32_t osd_pgmark_key(const char *prefix, uint32_t pool, uint32_t seed, char *buf, size_t len);
void osd_pgmark_encode(uint32_t pool, uint32_t seed, const struct osd_pgmark *m,
		       struct osd_pgmark_disk *out);
/* Returns 0, -RT_EBADMAGIC, -RT_EBADCRC, -RT_EBADVERSION, -EBADMSG. */
int osd_pgmark_decode(const void *buf, size_t len, uint32_t pool, uint32_t seed,
		      struct osd_pgmark *out);
/* Read a marker from the store's metadata (synchronous, in memory). Returns 0,
 * -ENOENT when there is none, or a decode error. */
int osd_pgmark_get(struct st_store *st, const char *prefix, uint32_t pool, uint32_t seed,
		   struct osd_pgmark *out);

/* Pack/unpack the u64 version from (epoch, seq). */
static inline uint64_t
osd_version_make(uint64_t epoch, uint64_t seq)
{
	return (epoch << 32) | (seq & 0xffffffffu);
}

static inline uint64_t
osd_version_epoch(uint64_t v)
{
	return v >> 32;
}

static inline uint64_t
osd_version_seq(uint64_t v)
{
	return v & 0xffffffffu;
}

#endif
