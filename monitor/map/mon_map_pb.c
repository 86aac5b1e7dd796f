/* Map and command <-> protobuf; see mon_map_pb.h. */
#include "mon_map_pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_crc.h"
#include "rt_err.h"

static Tessera__Address *
addr_to_pb(const struct mon_addr *a)
{
	Tessera__Address *pb = malloc(sizeof(*pb));

	if (!pb)
		return NULL;
	tessera__address__init(pb);
	pb->host = (char *)a->host;
	pb->port = a->port;
	return pb;
}

static void
osd_pb_free(Tessera__OsdInfo *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n_reactors; i++)
		free(o->reactors[i]);
	free(o->reactors);
	free(o);
}

static Tessera__OsdInfo *
osd_to_pb(const struct mon_osd *o)
{
	Tessera__OsdInfo *pb = calloc(1, sizeof(*pb));

	if (!pb)
		return NULL;
	tessera__osd_info__init(pb);
	pb->id = o->id;
	pb->uuid = (char *)o->uuid;
	pb->host = (char *)o->host;
	pb->failure_domain = (char *)o->failure_domain;
	pb->up = o->up;
	pb->in = o->in;
	pb->auto_out = o->auto_out;
	pb->weight = o->weight;
	pb->device_bytes = o->device_bytes;
	pb->used_bytes = o->used_bytes;
	pb->up_since_epoch = o->up_since_epoch;
	pb->down_at_us = o->down_at_us;
	if (o->n_reactors) {
		pb->reactors = calloc(o->n_reactors, sizeof(*pb->reactors));
		if (!pb->reactors)
			goto out_free;
		for (uint32_t i = 0; i < o->n_reactors; i++) {
			pb->reactors[i] = addr_to_pb(&o->reactors[i]);
			if (!pb->reactors[i])
				goto out_free;
			pb->n_reactors++;
		}
	}
	return pb;
out_free:
	osd_pb_free(pb);
	return NULL;
}

static Tessera__PoolInfo *
pool_to_pb(const struct mon_pool *p)
{
	Tessera__PoolInfo *pb = malloc(sizeof(*pb));

	if (!pb)
		return NULL;
	tessera__pool_info__init(pb);
	pb->id = p->id;
	pb->name = (char *)p->name;
	pb->size = p->size;
	pb->min_size = p->min_size;
	pb->pg_count = p->pg_count;
	return pb;
}

/* PG mappings: the acting arrays point into the source map. */
static Tessera__PgMapping *
pg_to_pb(const struct mon_pool *p, uint32_t seed)
{
	Tessera__PgMapping *pb = malloc(sizeof(*pb));
	const struct mon_pg *pg = &p->pgs[seed];

	if (!pb)
		return NULL;
	tessera__pg_mapping__init(pb);
	pb->pool = p->id;
	pb->seed = seed;
	pb->n_acting = pg->n_acting;
	pb->acting = (uint32_t *)pg->acting;
	pb->state = (char *)mon_pg_state_name(mon_pg_state_of(p, pg));
	return pb;
}

static void
vol_pb_free(Tessera__VolumeInfo *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_snapshots; i++)
		free(v->snapshots[i]);
	free(v->snapshots);
	free(v);
}

static Tessera__VolumeInfo *
vol_to_pb(const struct mon_volume *v)
{
	Tessera__VolumeInfo *pb = calloc(1, sizeof(*pb));

	if (!pb)
		return NULL;
	tessera__volume_info__init(pb);
	pb->id = v->id;
	pb->name = (char *)v->name;
	pb->pool = v->pool;
	pb->size = v->size;
	pb->object_size = v->object_size;
	pb->features = v->features;
	pb->parent_id = v->parent_id;
	pb->parent_snap = v->parent_snap;
	if (v->n_snaps) {
		pb->snapshots = calloc(v->n_snaps, sizeof(*pb->snapshots));
		if (!pb->snapshots)
			goto out_free;
		for (uint32_t i = 0; i < v->n_snaps; i++) {
			Tessera__Snapshot *s = malloc(sizeof(*s));

			if (!s)
				goto out_free;
			tessera__snapshot__init(s);
			s->id = v->snaps[i].id;
			s->name = (char *)v->snaps[i].name;
			s->size = v->snaps[i].size;
			pb->snapshots[pb->n_snapshots++] = s;
		}
	}
	return pb;
out_free:
	vol_pb_free(pb);
	return NULL;
}

void
mon_map_pb_free(Tessera__ClusterMap *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; i < pb->n_mons; i++) {
		if (pb->mons[i])
			free(pb->mons[i]->addr);
		free(pb->mons[i]);
	}
	free(pb->mons);
	for (size_t i = 0; i < pb->n_osds; i++)
		osd_pb_free(pb->osds[i]);
	free(pb->osds);
	for (size_t i = 0; i < pb->n_pools; i++)
		free(pb->pools[i]);
	free(pb->pools);
	for (size_t i = 0; i < pb->n_pgs; i++)
		free(pb->pgs[i]);
	free(pb->pgs);
	for (size_t i = 0; i < pb->n_volumes; i++)
		vol_pb_free(pb->volumes[i]);
	free(pb->volumes);
	free(pb);
}

static size_t
total_pgs(const struct mon_map *m)
{
	size_t n = 0;

	for (uint32_t i = 0; i < m->n_pools; i++)
		n += m->pools[i].pgs ? m->pools[i].pg_count : 0;
	return n;
}

Tessera__ClusterMap *
mon_map_to_pb(const struct mon_map *m, const struct mon_map_pb_mons *mons)
{
	Tessera__ClusterMap *pb = calloc(1, sizeof(*pb));
	size_t npg = total_pgs(m);

	if (!pb)
		return NULL;
	tessera__cluster_map__init(pb);
	pb->epoch = m->epoch;
	pb->fsid = (char *)m->fsid;
	pb->created_us = m->created_us;
	pb->next_osd_id = m->next_osd_id;
	pb->next_pool_id = m->next_pool_id;
	pb->next_volume_id = m->next_volume_id;

	if (mons && mons->n) {
		pb->mons = calloc(mons->n, sizeof(*pb->mons));
		if (!pb->mons)
			goto out_free;
		for (uint32_t i = 0; i < mons->n; i++) {
			Tessera__MonInfo *mi = malloc(sizeof(*mi));

			if (!mi)
				goto out_free;
			tessera__mon_info__init(mi);
			pb->mons[pb->n_mons++] = mi;
			mi->id = mons->ids[i];
			mi->addr = addr_to_pb(&mons->addrs[i]);
			if (!mi->addr)
				goto out_free;
		}
	}
	if (m->n_osds) {
		pb->osds = calloc(m->n_osds, sizeof(*pb->osds));
		if (!pb->osds)
			goto out_free;
		for (uint32_t i = 0; i < m->n_osds; i++) {
			if (!(pb->osds[i] = osd_to_pb(&m->osds[i])))
				goto out_free;
			pb->n_osds++;
		}
	}
	if (m->n_pools) {
		pb->pools = calloc(m->n_pools, sizeof(*pb->pools));
		if (!pb->pools)
			goto out_free;
		for (uint32_t i = 0; i < m->n_pools; i++) {
			if (!(pb->pools[i] = pool_to_pb(&m->pools[i])))
				goto out_free;
			pb->n_pools++;
		}
	}
	if (npg) {
		pb->pgs = calloc(npg, sizeof(*pb->pgs));
		if (!pb->pgs)
			goto out_free;
		for (uint32_t i = 0; i < m->n_pools; i++) {
			const struct mon_pool *p = &m->pools[i];

			for (uint32_t s = 0; p->pgs && s < p->pg_count; s++) {
				if (!(pb->pgs[pb->n_pgs] = pg_to_pb(p, s)))
					goto out_free;
				pb->n_pgs++;
			}
		}
	}
	if (m->n_vols) {
		pb->volumes = calloc(m->n_vols, sizeof(*pb->volumes));
		if (!pb->volumes)
			goto out_free;
		for (uint32_t i = 0; i < m->n_vols; i++) {
			if (!(pb->volumes[i] = vol_to_pb(&m->vols[i])))
				goto out_free;
			pb->n_volumes++;
		}
	}
	return pb;
out_free:
	mon_map_pb_free(pb);
	return NULL;
}

static int
copy_str(char *dst, size_t cap, const char *src)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= cap)
		return -EBADMSG;
	memcpy(dst, src ? src : "", len + 1);
	return 0;
}

static int
osd_from_pb(const Tessera__OsdInfo *pb, struct mon_osd *o)
{
	memset(o, 0, sizeof(*o));
	if (pb->id == MON_OSD_NONE || copy_str(o->uuid, sizeof(o->uuid), pb->uuid) ||
	    copy_str(o->host, sizeof(o->host), pb->host) ||
	    copy_str(o->failure_domain, sizeof(o->failure_domain), pb->failure_domain))
		return -EBADMSG;
	if (pb->n_reactors > MON_MAX_REACTORS || !(pb->weight >= 0 && pb->weight <= 1e6))
		return -EBADMSG;
	o->id = pb->id;
	o->up = pb->up;
	o->in = pb->in;
	o->auto_out = pb->auto_out;
	o->weight = pb->weight;
	o->device_bytes = pb->device_bytes;
	o->used_bytes = pb->used_bytes;
	o->up_since_epoch = pb->up_since_epoch;
	o->down_at_us = pb->down_at_us;
	if (pb->n_reactors) {
		o->reactors = calloc(pb->n_reactors, sizeof(*o->reactors));
		if (!o->reactors)
			return -ENOMEM;
		for (size_t i = 0; i < pb->n_reactors; i++) {
			if (!pb->reactors[i] || pb->reactors[i]->port > 65535 ||
			    copy_str(o->reactors[i].host, sizeof(o->reactors[i].host),
				     pb->reactors[i]->host)) {
				free(o->reactors);
				o->reactors = NULL;
				return -EBADMSG;
			}
			o->reactors[i].port = (uint16_t)pb->reactors[i]->port;
		}
		o->n_reactors = (uint32_t)pb->n_reactors;
	}
	return 0;
}

int
mon_map_from_pb(const Tessera__ClusterMap *pb, struct mon_map **out)
{
	struct mon_map *m = mon_map_create();
	int rc = -EBADMSG;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->epoch = pb->epoch;
	if (copy_str(m->fsid, sizeof(m->fsid), pb->fsid))
		goto out_destroy;
	m->created_us = pb->created_us;
	m->next_osd_id = pb->next_osd_id;
	m->next_pool_id = pb->next_pool_id;
	m->next_volume_id = pb->next_volume_id;

	for (size_t i = 0; i < pb->n_osds; i++) {
		struct mon_osd o;

		if (!pb->osds[i])
			goto out_destroy;
		rc = osd_from_pb(pb->osds[i], &o);
		if (rc < 0)
			goto out_destroy;
		rc = mon_map_osd_insert(m, &o);
		if (rc < 0) {
			free(o.reactors);
			rc = rc == -EEXIST ? -EBADMSG : rc;
			goto out_destroy;
		}
	}
	rc = -EBADMSG;
	for (size_t i = 0; i < pb->n_pools; i++) {
		const Tessera__PoolInfo *pp = pb->pools[i];
		struct mon_pool p = { 0 };

		if (!pp || pp->size < 1 || pp->size > MON_MAX_REPLICAS || pp->min_size < 1 ||
		    pp->min_size > pp->size || pp->pg_count < 1 || pp->pg_count > MON_MAX_PG_COUNT ||
		    copy_str(p.name, sizeof(p.name), pp->name))
			goto out_destroy;
		p.id = pp->id;
		p.size = pp->size;
		p.min_size = pp->min_size;
		p.pg_count = pp->pg_count;
		p.pgs = calloc(p.pg_count, sizeof(*p.pgs));
		if (!p.pgs) {
			rc = -ENOMEM;
			goto out_destroy;
		}
		for (uint32_t s = 0; s < p.pg_count; s++) {
			for (uint32_t k = 0; k < MON_MAX_REPLICAS; k++)
				p.pgs[s].acting[k] = MON_OSD_NONE;
		}
		rc = mon_map_pool_insert(m, &p);
		if (rc < 0) {
			free(p.pgs);
			rc = rc == -EEXIST ? -EBADMSG : rc;
			goto out_destroy;
		}
		rc = -EBADMSG;
	}
	for (size_t i = 0; i < pb->n_pgs; i++) {
		const Tessera__PgMapping *g = pb->pgs[i];
		struct mon_pool *p;

		if (!g || !(p = mon_map_pool(m, g->pool)) || g->seed >= p->pg_count ||
		    g->n_acting > p->size)
			goto out_destroy;
		p->pgs[g->seed].n_acting = (uint8_t)g->n_acting;
		for (size_t k = 0; k < g->n_acting; k++)
			p->pgs[g->seed].acting[k] = g->acting[k];
	}
	for (size_t i = 0; i < pb->n_volumes; i++) {
		const Tessera__VolumeInfo *vp = pb->volumes[i];
		struct mon_volume v = { 0 };

		if (!vp || copy_str(v.name, sizeof(v.name), vp->name) || vp->n_snapshots > 65536)
			goto out_destroy;
		v.id = vp->id;
		v.pool = vp->pool;
		v.size = vp->size;
		v.object_size = vp->object_size;
		v.features = vp->features;
		v.parent_id = vp->parent_id;
		v.parent_snap = vp->parent_snap;
		if (vp->n_snapshots) {
			v.snaps = calloc(vp->n_snapshots, sizeof(*v.snaps));
			if (!v.snaps) {
				rc = -ENOMEM;
				goto out_destroy;
			}
			for (size_t k = 0; k < vp->n_snapshots; k++) {
				if (!vp->snapshots[k] ||
				    copy_str(v.snaps[k].name, sizeof(v.snaps[k].name),
					     vp->snapshots[k]->name)) {
					free(v.snaps);
					goto out_destroy;
				}
				v.snaps[k].id = vp->snapshots[k]->id;
				v.snaps[k].size = vp->snapshots[k]->size;
			}
			v.n_snaps = (uint32_t)vp->n_snapshots;
		}
		rc = mon_map_vol_insert(m, &v);
		if (rc < 0) {
			free(v.snaps);
			rc = -EBADMSG;
			goto out_destroy;
		}
	}
	*out = m;
	return 0;
out_destroy:
	mon_map_destroy(&m);
	return rc;
}

void
mon_map_inc_pb_free(Tessera__MapIncremental *pb)
{
	if (!pb)
		return;
	for (size_t i = 0; i < pb->n_osds; i++)
		osd_pb_free(pb->osds[i]);
	free(pb->osds);
	free(pb->removed_osds);
	for (size_t i = 0; i < pb->n_pools; i++)
		free(pb->pools[i]);
	free(pb->pools);
	free(pb->removed_pools);
	for (size_t i = 0; i < pb->n_pgs; i++)
		free(pb->pgs[i]);
	free(pb->pgs);
	for (size_t i = 0; i < pb->n_volumes; i++)
		vol_pb_free(pb->volumes[i]);
	free(pb->volumes);
	free(pb->removed_volumes);
	free(pb);
}

Tessera__MapIncremental *
mon_map_inc_to_pb(const struct mon_map *old, const struct mon_map *nw)
{
	Tessera__MapIncremental *pb = calloc(1, sizeof(*pb));
	size_t npg = total_pgs(nw);

	if (!pb)
		return NULL;
	tessera__map_incremental__init(pb);
	pb->from_epoch = old->epoch;
	pb->to_epoch = nw->epoch;

	/* Upper bounds for every array, so that each is allocated once. */
	pb->osds = calloc(nw->n_osds + 1, sizeof(*pb->osds));
	pb->removed_osds = calloc(old->n_osds + 1, sizeof(*pb->removed_osds));
	pb->pools = calloc(nw->n_pools + 1, sizeof(*pb->pools));
	pb->removed_pools = calloc(old->n_pools + 1, sizeof(*pb->removed_pools));
	pb->pgs = calloc(npg + 1, sizeof(*pb->pgs));
	pb->volumes = calloc(nw->n_vols + 1, sizeof(*pb->volumes));
	pb->removed_volumes = calloc(old->n_vols + 1, sizeof(*pb->removed_volumes));
	if (!pb->osds || !pb->removed_osds || !pb->pools || !pb->removed_pools || !pb->pgs ||
	    !pb->volumes || !pb->removed_volumes)
		goto out_free;

	for (uint32_t i = 0; i < nw->n_osds; i++) {
		const struct mon_osd *o = mon_map_osd(old, nw->osds[i].id);

		if (o && mon_osd_equal(o, &nw->osds[i]))
			continue;
		if (!(pb->osds[pb->n_osds] = osd_to_pb(&nw->osds[i])))
			goto out_free;
		pb->n_osds++;
	}
	for (uint32_t i = 0; i < old->n_osds; i++) {
		if (!mon_map_osd(nw, old->osds[i].id))
			pb->removed_osds[pb->n_removed_osds++] = old->osds[i].id;
	}
	for (uint32_t i = 0; i < nw->n_pools; i++) {
		const struct mon_pool *np = &nw->pools[i];
		const struct mon_pool *op = mon_map_pool(old, np->id);
		bool meta_same = op && mon_pool_equal_meta(op, np);

		if (!meta_same) {
			if (!(pb->pools[pb->n_pools] = pool_to_pb(np)))
				goto out_free;
			pb->n_pools++;
		}
		for (uint32_t s = 0; np->pgs && s < np->pg_count; s++) {
			if (meta_same && op->pgs && mon_pg_equal(&op->pgs[s], &np->pgs[s]))
				continue;
			if (!(pb->pgs[pb->n_pgs] = pg_to_pb(np, s)))
				goto out_free;
			pb->n_pgs++;
		}
	}
	for (uint32_t i = 0; i < old->n_pools; i++) {
		if (!mon_map_pool(nw, old->pools[i].id))
			pb->removed_pools[pb->n_removed_pools++] = old->pools[i].id;
	}
	for (uint32_t i = 0; i < nw->n_vols; i++) {
		const struct mon_volume *ov = NULL;

		for (uint32_t k = 0; k < old->n_vols; k++) {
			if (old->vols[k].id == nw->vols[i].id)
				ov = &old->vols[k];
		}
		if (ov && mon_volume_equal(ov, &nw->vols[i]))
			continue;
		if (!(pb->volumes[pb->n_volumes] = vol_to_pb(&nw->vols[i])))
			goto out_free;
		pb->n_volumes++;
	}
	for (uint32_t i = 0; i < old->n_vols; i++) {
		bool found = false;

		for (uint32_t k = 0; k < nw->n_vols && !found; k++)
			found = nw->vols[k].id == old->vols[i].id;
		if (!found)
			pb->removed_volumes[pb->n_removed_volumes++] = old->vols[i].id;
	}
	return pb;
out_free:
	mon_map_inc_pb_free(pb);
	return NULL;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t
mon_map_packed_size(const struct mon_map *m)
{
	Tessera__ClusterMap *pb = mon_map_to_pb(m, NULL);
	size_t n;

	if (!pb)
		return 0;
	n = MON_SNAP_HDR_LEN + tessera__cluster_map__get_packed_size(pb);
	mon_map_pb_free(pb);
	return n;
}

long
mon_map_pack(const struct mon_map *m, void *buf, size_t cap)
{
	Tessera__ClusterMap *pb = mon_map_to_pb(m, NULL);
	unsigned char *p = buf;
	size_t len;

	if (!pb)
		return -ENOMEM;
	len = tessera__cluster_map__get_packed_size(pb);
	if (cap < MON_SNAP_HDR_LEN + len || len > UINT32_MAX) {
		mon_map_pb_free(pb);
		return -ENOBUFS;
	}
	tessera__cluster_map__pack(pb, p + MON_SNAP_HDR_LEN);
	mon_map_pb_free(pb);
	put_le32(p, MON_SNAP_MAGIC);
	put_le32(p + 4, MON_SNAP_VERSION);
	put_le32(p + 8, (uint32_t)len);
	put_le32(p + 12, rt_crc32c(0, p + MON_SNAP_HDR_LEN, len));
	return (long)(MON_SNAP_HDR_LEN + len);
}

int
mon_map_unpack(const void *buf, size_t len, struct mon_map **out)
{
	const unsigned char *p = buf;
	Tessera__ClusterMap *pb;
	uint32_t plen;
	int rc;

	*out = NULL;
	if (len < MON_SNAP_HDR_LEN)
		return -EBADMSG;
	if (get_le32(p) != MON_SNAP_MAGIC)
		return -RT_EBADMAGIC;
	if (get_le32(p + 4) != MON_SNAP_VERSION)
		return -RT_EBADVERSION;
	plen = get_le32(p + 8);
	if (plen > len - MON_SNAP_HDR_LEN)
		return -EBADMSG;
	if (rt_crc32c(0, p + MON_SNAP_HDR_LEN, plen) != get_le32(p + 12))
		return -RT_EBADCRC;
	pb = tessera__cluster_map__unpack(NULL, plen, p + MON_SNAP_HDR_LEN);
	if (!pb)
		return -EBADMSG;
	rc = mon_map_from_pb(pb, out);
	tessera__cluster_map__free_unpacked(pb, NULL);
	return rc;
}

static void
cmd_to_pb(const struct mon_cmd *c, Tessera__AdminCommand *pb, Tessera__AdminCommand__ArgsEntry *e,
	  Tessera__AdminCommand__ArgsEntry **ep)
{
	tessera__admin_command__init(pb);
	pb->command = (char *)c->name;
	for (uint32_t i = 0; i < c->n_args; i++) {
		tessera__admin_command__args_entry__init(&e[i]);
		e[i].key = (char *)c->args[i].key;
		e[i].value = (char *)(c->args[i].val ? c->args[i].val : "");
		ep[i] = &e[i];
	}
	pb->n_args = c->n_args;
	pb->args = ep;
}

size_t
mon_cmd_packed_size(const struct mon_cmd *c)
{
	Tessera__AdminCommand pb;
	Tessera__AdminCommand__ArgsEntry e[MON_CMD_MAX_ARGS], *ep[MON_CMD_MAX_ARGS];

	cmd_to_pb(c, &pb, e, ep);
	return tessera__admin_command__get_packed_size(&pb);
}

size_t
mon_cmd_pack(const struct mon_cmd *c, void *buf)
{
	Tessera__AdminCommand pb;
	Tessera__AdminCommand__ArgsEntry e[MON_CMD_MAX_ARGS], *ep[MON_CMD_MAX_ARGS];

	cmd_to_pb(c, &pb, e, ep);
	return tessera__admin_command__pack(&pb, buf);
}

int
mon_cmd_unpack(const void *buf, size_t len, Tessera__AdminCommand **pbp, struct mon_cmd *c)
{
	Tessera__AdminCommand *pb = tessera__admin_command__unpack(NULL, len, buf);

	*pbp = NULL;
	if (!pb)
		return -EBADMSG;
	if (pb->n_args > MON_CMD_MAX_ARGS) {
		tessera__admin_command__free_unpacked(pb, NULL);
		return -E2BIG;
	}
	mon_cmd_init(c, pb->command);
	for (size_t i = 0; i < pb->n_args; i++)
		mon_cmd_add(c, pb->args[i]->key, pb->args[i]->value);
	*pbp = pb;
	return 0;
}
