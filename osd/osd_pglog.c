/* The PG log: see osd_pglog.h for the design. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "osd_pglog.h"
#include "rt_crc.h"
#include "rt_err.h"

int
osd_pglog_init(struct osd_pglog *l, uint32_t pool, uint32_t seed, uint32_t cap)
{
	memset(l, 0, sizeof(*l));
	if (cap == 0 || cap > OSD_PGLOG_MAX_CAP)
		return -EINVAL;
	l->ents = calloc(cap, sizeof(*l->ents));
	if (!l->ents)
		return -ENOMEM;
	l->pool = pool;
	l->seed = seed;
	l->cap = cap;
	return 0;
}

void
osd_pglog_fini(struct osd_pglog *l)
{
	free(l->ents);
	l->ents = NULL;
	l->cap = l->n = l->head = 0;
}

struct osd_pglog_entry *
osd_pglog_append(struct osd_pglog *l, const struct osd_pglog_entry *e)
{
	struct osd_pglog_entry *s = &l->ents[l->head];

	if (s->version == 0)
		l->n++;
	*s = *e;
	s->slot = (uint16_t)l->head;
	l->head = (l->head + 1) % l->cap;
	if (e->version > l->last_version)
		l->last_version = e->version;
	return s;
}

const struct osd_pglog_entry *
osd_pglog_find_dup(const struct osd_pglog *l, uint64_t client_id, uint64_t req_id)
{
	const struct osd_pglog_entry *best = NULL;

	if (client_id == 0)
		return NULL;
	for (uint32_t i = 0; i < l->cap; i++) {
		const struct osd_pglog_entry *s = &l->ents[i];

		if (s->version && s->client_id == client_id && s->req_id == req_id &&
		    (!best || s->version > best->version))
			best = s;
	}
	return best;
}

uint64_t
osd_pglog_tail_version(const struct osd_pglog *l)
{
	uint64_t v = 0;

	for (uint32_t i = 0; i < l->cap; i++)
		if (l->ents[i].version && (v == 0 || l->ents[i].version < v))
			v = l->ents[i].version;
	return v;
}

uint32_t
osd_pglog_key(uint32_t pool, uint32_t seed, uint32_t slot, char *buf, size_t len)
{
	int n = snprintf(buf, len, OSD_PGLOG_KEY_PREFIX "%" PRIu32 ".%" PRIx32 ".%" PRIu32, pool,
			 seed, slot);

	return n < 0 ? 0 : (uint32_t)n;
}

static int
parse_u32(const char **p, const char *end, int base, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end)
		return -EINVAL;
	while (s < end && *s != '.') {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			return -EINVAL;
		v = v * (uint64_t)base + (uint64_t)d;
		if (v > UINT32_MAX)
			return -EINVAL;
		s++;
	}
	if (s == *p)
		return -EINVAL;
	*out = (uint32_t)v;
	*p = s;
	return 0;
}

int
osd_pglog_key_parse(const void *key, uint32_t key_len, uint32_t *pool, uint32_t *seed,
		    uint32_t *slot)
{
	const char *p = key, *end = p + key_len;
	size_t plen = strlen(OSD_PGLOG_KEY_PREFIX);

	if (key_len <= plen || memcmp(p, OSD_PGLOG_KEY_PREFIX, plen) != 0)
		return -EINVAL;
	p += plen;
	if (parse_u32(&p, end, 10, pool) < 0 || p >= end || *p++ != '.')
		return -EINVAL;
	if (parse_u32(&p, end, 16, seed) < 0 || p >= end || *p++ != '.')
		return -EINVAL;
	if (parse_u32(&p, end, 10, slot) < 0 || p != end)
		return -EINVAL;
	return 0;
}

void
osd_pglog_encode(const struct osd_pglog *l, const struct osd_pglog_entry *e,
		 struct osd_pglog_disk *out)
{
	memset(out, 0, sizeof(*out));
	out->magic = OSD_PGLOG_MAGIC;
	out->format = OSD_PGLOG_FORMAT;
	out->slot = e->slot;
	out->pool = l->pool;
	out->seed = l->seed;
	out->oid = e->obj.oid;
	out->version = e->version;
	out->client_id = e->client_id;
	out->req_id = e->req_id;
	out->status = (uint32_t)frame_status_from_errno(e->result);
	out->op = e->op;
	out->crc = rt_crc32c(0, out, sizeof(*out));
}

int
osd_pglog_decode(const void *buf, size_t len, uint32_t *pool, uint32_t *seed,
		 struct osd_pglog_entry *out)
{
	struct osd_pglog_disk d;
	uint32_t crc;

	if (len != sizeof(d))
		return -EBADMSG;
	memcpy(&d, buf, sizeof(d));
	if (d.magic != OSD_PGLOG_MAGIC)
		return -RT_EBADMAGIC;
	crc = d.crc;
	d.crc = 0;
	if (rt_crc32c(0, &d, sizeof(d)) != crc)
		return -RT_EBADCRC;
	if (d.format != OSD_PGLOG_FORMAT)
		return -RT_EBADVERSION;
	if (d.version == 0 || d.slot >= OSD_PGLOG_MAX_CAP)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->version = d.version;
	out->obj.pool = d.pool;
	out->obj.oid = d.oid;
	out->client_id = d.client_id;
	out->req_id = d.req_id;
	out->result = d.status == 0 ? 0 : frame_status_to_errno((int)d.status);
	out->op = d.op;
	out->slot = d.slot;
	*pool = d.pool;
	*seed = d.seed;
	return 0;
}

int
osd_pglog_load_entry(struct osd_pglog *l, const struct osd_pglog_entry *e)
{
	if (e->slot >= l->cap)
		return -ERANGE;
	if (e->version == 0)
		return -EINVAL;
	l->ents[e->slot] = *e;
	return 0;
}

void
osd_pglog_load_done(struct osd_pglog *l)
{
	uint64_t newest = 0;
	uint32_t newest_slot = 0;

	l->n = 0;
	for (uint32_t i = 0; i < l->cap; i++) {
		const struct osd_pglog_entry *s = &l->ents[i];

		if (!s->version)
			continue;
		l->n++;
		if (s->version > newest) {
			newest = s->version;
			newest_slot = i;
		}
	}
	l->head = newest ? (newest_slot + 1) % l->cap : 0;
	if (newest > l->last_version)
		l->last_version = newest;
}

uint32_t
osd_pgmark_key(const char *prefix, uint32_t pool, uint32_t seed, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%" PRIu32 ".%" PRIx32, prefix, pool, seed);

	return n < 0 || (size_t)n >= len ? 0 : (uint32_t)n;
}

void
osd_pgmark_encode(uint32_t pool, uint32_t seed, const struct osd_pgmark *m,
		  struct osd_pgmark_disk *out)
{
	memset(out, 0, sizeof(*out));
	out->magic = OSD_PGMARK_MAGIC;
	out->format = OSD_PGMARK_FORMAT;
	out->n_osds = (uint16_t)(m->n_osds > OSD_PGMARK_MAX_OSDS ? OSD_PGMARK_MAX_OSDS : m->n_osds);
	out->pool = pool;
	out->seed = seed;
	out->value = m->value;
	for (uint32_t i = 0; i < out->n_osds; i++)
		out->osds[i] = m->osds[i];
	out->crc = rt_crc32c(0, out, sizeof(*out));
}

int
osd_pgmark_decode(const void *buf, size_t len, uint32_t pool, uint32_t seed,
		  struct osd_pgmark *out)
{
	struct osd_pgmark_disk d;
	uint32_t crc;

	if (len != sizeof(d))
		return -EBADMSG;
	memcpy(&d, buf, sizeof(d));
	if (d.magic != OSD_PGMARK_MAGIC)
		return -RT_EBADMAGIC;
	crc = d.crc;
	d.crc = 0;
	if (rt_crc32c(0, &d, sizeof(d)) != crc)
		return -RT_EBADCRC;
	if (d.format != OSD_PGMARK_FORMAT)
		return -RT_EBADVERSION;
	if (d.pool != pool || d.seed != seed || d.n_osds > OSD_PGMARK_MAX_OSDS)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->value = d.value;
	out->n_osds = d.n_osds;
	for (uint32_t i = 0; i < d.n_osds; i++)
		out->osds[i] = d.osds[i];
	return 0;
}

int
osd_pgmark_get(struct st_store *st, const char *prefix, uint32_t pool, uint32_t seed,
	       struct osd_pgmark *out)
{
	char key[OSD_PGLOG_KEY_MAX];
	struct osd_pgmark_disk d;
	uint32_t klen = osd_pgmark_key(prefix, pool, seed, key, sizeof(key));
	int rc;

	if (!klen)
		return -EINVAL;
	rc = st_meta_get(st, key, klen, &d, sizeof(d));
	if (rc < 0)
		return rc;
	return osd_pgmark_decode(&d, (size_t)rc, pool, seed, out);
}
