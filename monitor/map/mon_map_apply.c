/*
 * The state machine of the map: one function per command, each working on a
 * private clone of the current map. See mon_cmd.h for the command list and the
 * determinism rule (no clock, no randomness, no local state in here).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_cmd.h"

void
mon_cmd_init(struct mon_cmd *c, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->name = name;
}

int
mon_cmd_add(struct mon_cmd *c, const char *key, const char *val)
{
	if (c->n_args >= MON_CMD_MAX_ARGS)
		return -E2BIG;
	c->args[c->n_args].key = key;
	c->args[c->n_args].val = val;
	c->n_args++;
	return 0;
}

const char *
mon_cmd_arg(const struct mon_cmd *c, const char *key)
{
	for (uint32_t i = 0; i < c->n_args; i++) {
		if (c->args[i].key && strcmp(c->args[i].key, key) == 0)
			return c->args[i].val;
	}
	return NULL;
}

__attribute__((format(printf, 4, 5))) static int
fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int
arg_u64(const struct mon_cmd *c, const char *key, bool required, uint64_t def, uint64_t *out,
	char *err, size_t err_len)
{
	const char *v = mon_cmd_arg(c, key);
	char *end;
	unsigned long long x;

	if (!v || !*v) {
		if (required)
			return fail(err, err_len, -EINVAL, "missing argument '%s'", key);
		*out = def;
		return 0;
	}
	if (v[0] == '-')
		return fail(err, err_len, -EINVAL, "argument '%s': '%s' is not a number", key, v);
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || *end)
		return fail(err, err_len, -EINVAL, "argument '%s': '%s' is not a number", key, v);
	*out = x;
	return 0;
}

static int
arg_double(const struct mon_cmd *c, const char *key, double def, double *out, char *err,
	   size_t err_len)
{
	const char *v = mon_cmd_arg(c, key);
	char *end;
	double x;

	if (!v || !*v) {
		*out = def;
		return 0;
	}
	errno = 0;
	x = strtod(v, &end);
	if (errno || *end || !isfinite(x) || x < 0 || x > 1e6)
		return fail(err, err_len, -EINVAL, "argument '%s': '%s' is not a valid weight", key,
			    v);
	*out = x;
	return 0;
}

static int
arg_str(const struct mon_cmd *c, const char *key, size_t max, const char **out, char *err,
	size_t err_len)
{
	const char *v = mon_cmd_arg(c, key);

	if (!v || !*v)
		return fail(err, err_len, -EINVAL, "missing argument '%s'", key);
	if (strlen(v) >= max)
		return fail(err, err_len, -ENAMETOOLONG, "argument '%s' is longer than %zu bytes",
			    key, max - 1);
	*out = v;
	return 0;
}

/* Names of pools and volumes: printable, no spaces, no quotes or backslashes. */
static bool
name_is_valid(const char *s)
{
	for (; *s; s++) {
		if (*s <= ' ' || *s >= 0x7f || *s == '"' || *s == '\\' || *s == '/')
			return false;
	}
	return true;
}

static int
osd_of(const struct mon_map *m, const struct mon_cmd *c, struct mon_osd **o, char *err,
       size_t err_len)
{
	uint64_t id;
	int rc = arg_u64(c, "id", true, 0, &id, err, err_len);

	if (rc < 0)
		return rc;
	if (id >= UINT32_MAX || !(*o = mon_map_osd(m, (uint32_t)id)))
		return fail(err, err_len, -ENOENT, "osd.%" PRIu64 " does not exist", id);
	return 0;
}

static int
parse_reactors(const char *list, struct mon_addr **out, uint32_t *n_out, char *err,
	       size_t err_len)
{
	struct mon_addr *a = NULL;
	uint32_t n = 0, cap = 0;
	const char *p = list;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (!list || !*list)
		return 0;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char tmp[MON_HOST_MAX + 16];

		if (len == 0 || len >= sizeof(tmp)) {
			rc = fail(err, err_len, -EINVAL, "bad reactor address list");
			goto out_free;
		}
		if (n >= MON_MAX_REACTORS) {
			rc = fail(err, err_len, -E2BIG, "more than %d reactors", MON_MAX_REACTORS);
			goto out_free;
		}
		if (n == cap) {
			struct mon_addr *na;

			cap = cap ? cap * 2 : 4;
			na = realloc(a, cap * sizeof(*a));
			if (!na) {
				rc = -ENOMEM;
				goto out_free;
			}
			a = na;
		}
		memcpy(tmp, p, len);
		tmp[len] = '\0';
		if (mon_addr_parse(tmp, &a[n]) < 0) {
			rc = fail(err, err_len, -EINVAL, "bad reactor address '%s'", tmp);
			goto out_free;
		}
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	*out = a;
	*n_out = n;
	return 0;
out_free:
	free(a);
	return rc;
}

static int
cmd_map_init(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	const char *fsid;
	uint64_t now;
	int rc;

	if (m->fsid[0])
		return 1; /* already initialised: no change */
	rc = arg_str(c, "fsid", sizeof(m->fsid), &fsid, err, err_len);
	if (rc < 0)
		return rc;
	rc = arg_u64(c, "now_us", false, 0, &now, err, err_len);
	if (rc < 0)
		return rc;
	snprintf(m->fsid, sizeof(m->fsid), "%s", fsid);
	m->created_us = now;
	return 0;
}

static int
cmd_osd_boot(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	const char *uuid, *host, *fd = mon_cmd_arg(c, "failure_domain");
	const char *has_want = mon_cmd_arg(c, "has_want_id");
	uint64_t want, dev, now;
	bool wanted;
	double weight = 0;
	struct mon_addr *reactors;
	uint32_t n_reactors;
	struct mon_osd *o;
	int rc;

	if ((rc = arg_str(c, "uuid", MON_UUID_MAX, &uuid, err, err_len)) < 0 ||
	    (rc = arg_str(c, "host", MON_HOST_MAX, &host, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "want_id", false, 0, &want, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "device_bytes", false, 0, &dev, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "now_us", false, 0, &now, err, err_len)) < 0 ||
	    (rc = arg_double(c, "weight", 0, &weight, err, err_len)) < 0)
		return rc;
	if (fd && strlen(fd) >= MON_HOST_MAX)
		return fail(err, err_len, -ENAMETOOLONG, "failure domain too long");
	if (want >= UINT32_MAX - 1)
		return fail(err, err_len, -EINVAL, "bad osd id %" PRIu64, want);
	/*
	 * Ids start at 0, so want_id 0 means "none" unless has_want_id says
	 * otherwise (older log entries carry want_id "0" without has_want_id and
	 * must replay as before).
	 */
	wanted = want != 0 || (has_want && strcmp(has_want, "1") == 0);
	if (weight <= 0) {
		/* Default weight: the device size in TiB, as Ceph does; 1.0 if unknown. */
		weight = dev ? (double)dev / (double)(1ull << 40) : 1.0;
		if (weight < 0.001)
			weight = 0.001;
	}
	rc = parse_reactors(mon_cmd_arg(c, "reactors"), &reactors, &n_reactors, err, err_len);
	if (rc < 0)
		return rc;

	o = mon_map_osd_by_uuid(m, uuid);
	if (o) {
		if (wanted && want != o->id) {
			free(reactors);
			return fail(err, err_len, -EEXIST,
				    "uuid %s belongs to osd.%u, not osd.%" PRIu64, uuid, o->id,
				    want);
		}
		free(o->reactors);
	} else {
		struct mon_osd n = { 0 };

		if (wanted && mon_map_osd(m, (uint32_t)want)) {
			free(reactors);
			return fail(err, err_len, -EEXIST, "osd.%" PRIu64 " has another uuid",
				    want);
		}
		n.id = wanted ? (uint32_t)want : m->next_osd_id;
		snprintf(n.uuid, sizeof(n.uuid), "%s", uuid);
		n.in = true;
		rc = mon_map_osd_insert(m, &n);
		if (rc < 0) {
			free(reactors);
			return rc;
		}
		if (n.id >= m->next_osd_id)
			m->next_osd_id = n.id + 1;
		o = mon_map_osd(m, n.id);
	}
	snprintf(o->host, sizeof(o->host), "%s", host);
	snprintf(o->failure_domain, sizeof(o->failure_domain), "%s", fd && *fd ? fd : host);
	o->reactors = reactors;
	o->n_reactors = n_reactors;
	o->weight = weight;
	o->device_bytes = dev;
	o->up = true;
	o->up_since_epoch = m->epoch;
	o->down_at_us = 0;
	if (o->auto_out) {
		o->in = true;
		o->auto_out = false;
	}
	(void)now;
	return 0;
}

static int
cmd_osd_down(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_osd *o;
	uint64_t now;
	int rc = osd_of(m, c, &o, err, err_len);

	if (rc < 0)
		return rc;
	if ((rc = arg_u64(c, "now_us", false, 0, &now, err, err_len)) < 0)
		return rc;
	if (!o->up)
		return 1;
	o->up = false;
	o->down_at_us = now ? now : 1;
	return 0;
}

static int
cmd_osd_out(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_osd *o;
	const char *au = mon_cmd_arg(c, "auto");
	int rc = osd_of(m, c, &o, err, err_len);

	if (rc < 0)
		return rc;
	if (!o->in)
		return 1;
	o->in = false;
	o->auto_out = au && strcmp(au, "1") == 0;
	return 0;
}

static int
cmd_osd_in(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_osd *o;
	int rc = osd_of(m, c, &o, err, err_len);

	if (rc < 0)
		return rc;
	if (o->in)
		return 1;
	o->in = true;
	o->auto_out = false;
	return 0;
}

static int
cmd_osd_rm(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_osd *o;
	int rc = osd_of(m, c, &o, err, err_len);

	if (rc < 0)
		return rc;
	if (o->up)
		return fail(err, err_len, -EBUSY, "osd.%u is up: mark it down (stop it) first",
			    o->id);
	mon_map_osd_remove(m, o->id);
	return 0;
}

static int
cmd_osd_reweight(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_osd *o;
	double w = 0;
	int rc = osd_of(m, c, &o, err, err_len);

	if (rc < 0)
		return rc;
	if (!mon_cmd_arg(c, "weight"))
		return fail(err, err_len, -EINVAL, "missing argument 'weight'");
	if ((rc = arg_double(c, "weight", 0, &w, err, err_len)) < 0)
		return rc;
	if (o->weight == w)
		return 1;
	o->weight = w;
	return 0;
}

static int
check_pool_sizes(uint64_t size, uint64_t min_size, char *err, size_t err_len)
{
	if (size < 1 || size > MON_MAX_REPLICAS)
		return fail(err, err_len, -EINVAL, "size must be 1..%d", MON_MAX_REPLICAS);
	if (min_size < 1 || min_size > size)
		return fail(err, err_len, -EINVAL, "min_size must be 1..size (%" PRIu64 ")", size);
	return 0;
}

static int
cmd_pool_create(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	const char *name;
	uint64_t size, min_size, pg_count;
	struct mon_pool p = { 0 };
	int rc;

	if ((rc = arg_str(c, "name", MON_NAME_MAX, &name, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "size", false, 3, &size, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "pg_count", false, 64, &pg_count, err, err_len)) < 0)
		return rc;
	if ((rc = arg_u64(c, "min_size", false, size > 1 ? size - size / 2 : 1, &min_size, err,
			  err_len)) < 0)
		return rc;
	if (!name_is_valid(name))
		return fail(err, err_len, -EINVAL, "pool name '%s' has invalid characters", name);
	if (mon_map_pool_by_name(m, name))
		return fail(err, err_len, -EEXIST, "pool '%s' already exists", name);
	if ((rc = check_pool_sizes(size, min_size, err, err_len)) < 0)
		return rc;
	if (pg_count < 1 || pg_count > MON_POOL_MAX_PGS)
		return fail(err, err_len, -EINVAL, "pg_count must be 1..%d", MON_POOL_MAX_PGS);
	p.id = m->next_pool_id++;
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.size = (uint32_t)size;
	p.min_size = (uint32_t)min_size;
	p.pg_count = (uint32_t)pg_count;
	return mon_map_pool_insert(m, &p);
}

static int
cmd_pool_set(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	const char *name, *key, *val;
	struct mon_pool *p;
	uint64_t v;
	int rc;

	if ((rc = arg_str(c, "name", MON_NAME_MAX, &name, err, err_len)) < 0 ||
	    (rc = arg_str(c, "key", 32, &key, err, err_len)) < 0 ||
	    (rc = arg_str(c, "value", MON_NAME_MAX, &val, err, err_len)) < 0)
		return rc;
	p = mon_map_pool_by_name(m, name);
	if (!p)
		return fail(err, err_len, -ENOENT, "pool '%s' does not exist", name);
	if (strcmp(key, "name") == 0) {
		if (!name_is_valid(val))
			return fail(err, err_len, -EINVAL, "pool name '%s' has invalid characters",
				    val);
		if (mon_map_pool_by_name(m, val))
			return fail(err, err_len, -EEXIST, "pool '%s' already exists", val);
		snprintf(p->name, sizeof(p->name), "%s", val);
		return 0;
	}
	if (strcmp(key, "size") && strcmp(key, "min_size"))
		return fail(err, err_len, strcmp(key, "pg_count") ? -EINVAL : -ENOTSUP,
			    "pool key '%s' cannot be set (settable: size, min_size, name)", key);
	if ((rc = arg_u64(c, "value", true, 0, &v, err, err_len)) < 0)
		return rc;
	if (strcmp(key, "size") == 0) {
		uint64_t ms = p->min_size > v ? v : p->min_size;

		if ((rc = check_pool_sizes(v, ms ? ms : 1, err, err_len)) < 0)
			return rc;
		if (p->size == v)
			return 1;
		p->size = (uint32_t)v;
		p->min_size = (uint32_t)(ms ? ms : 1);
	} else {
		if ((rc = check_pool_sizes(p->size, v, err, err_len)) < 0)
			return rc;
		if (p->min_size == v)
			return 1;
		p->min_size = (uint32_t)v;
	}
	return 0;
}

static int
cmd_pool_rm(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	const char *name;
	struct mon_pool *p;
	int rc;

	if ((rc = arg_str(c, "name", MON_NAME_MAX, &name, err, err_len)) < 0)
		return rc;
	p = mon_map_pool_by_name(m, name);
	if (!p)
		return fail(err, err_len, -ENOENT, "pool '%s' does not exist", name);
	for (uint32_t i = 0; i < m->n_vols; i++) {
		if (m->vols[i].pool == p->id)
			return fail(err, err_len, -EBUSY, "pool '%s' still holds volume '%s'", name,
				    m->vols[i].name);
	}
	mon_map_pool_remove(m, p->id);
	return 0;
}

static int
vol_of(const struct mon_map *m, const struct mon_cmd *c, struct mon_volume **v, char *err,
       size_t err_len)
{
	const char *name;
	int rc = arg_str(c, "name", MON_VOL_NAME_MAX, &name, err, err_len);

	if (rc < 0)
		return rc;
	*v = mon_map_vol_by_name(m, name);
	if (!*v)
		return fail(err, err_len, -ENOENT, "volume '%s' does not exist", name);
	return 0;
}

static int
cmd_vol_create(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	const char *name, *pool;
	uint64_t size, osz, features;
	struct mon_volume v = { 0 };
	struct mon_pool *p;
	int rc;

	if ((rc = arg_str(c, "name", MON_VOL_NAME_MAX, &name, err, err_len)) < 0 ||
	    (rc = arg_str(c, "pool", MON_NAME_MAX, &pool, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "size", true, 0, &size, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "object_size", false, 4u << 20, &osz, err, err_len)) < 0 ||
	    (rc = arg_u64(c, "features", false, 0, &features, err, err_len)) < 0)
		return rc;
	if (!name_is_valid(name))
		return fail(err, err_len, -EINVAL, "volume name '%s' has invalid characters", name);
	if (mon_map_vol_by_name(m, name))
		return fail(err, err_len, -EEXIST, "volume '%s' already exists", name);
	p = mon_map_pool_by_name(m, pool);
	if (!p)
		return fail(err, err_len, -ENOENT, "pool '%s' does not exist", pool);
	if (osz < 4096 || osz > (64u << 20) || (osz & (osz - 1)))
		return fail(err, err_len, -EINVAL, "object_size must be a power of two, 4K..64M");
	/* 0 is a valid size (an empty volume); block alignment is checked by
	 * the RPC handler, so that entries already in a log still apply. */
	if (size / osz >= (1ull << 32))
		return fail(err, err_len, -EFBIG, "volume too big for its object size");
	v.id = m->next_volume_id++;
	snprintf(v.name, sizeof(v.name), "%s", name);
	v.pool = p->id;
	v.size = size;
	v.object_size = (uint32_t)osz;
	v.features = features;
	return mon_map_vol_insert(m, &v);
}

static int
cmd_vol_resize(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_volume *v;
	uint64_t size;
	int rc = vol_of(m, c, &v, err, err_len);

	if (rc < 0)
		return rc;
	if ((rc = arg_u64(c, "size", true, 0, &size, err, err_len)) < 0)
		return rc;
	/* 0 is a valid size (an empty volume); block alignment is checked by
	 * the RPC handler, so that entries already in a log still apply. */
	if (size / v->object_size >= (1ull << 32))
		return fail(err, err_len, -EFBIG, "volume too big for its object size");
	if (v->size == size)
		return 1;
	v->size = size;
	return 0;
}

static int
cmd_vol_rm(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_volume *v;
	int rc = vol_of(m, c, &v, err, err_len);

	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < m->n_vols; i++) {
		if (m->vols[i].parent_id == v->id)
			return fail(err, err_len, -EBUSY, "volume '%s' has clone '%s'", v->name,
				    m->vols[i].name);
	}
	mon_map_vol_remove(m, v->id);
	return 0;
}

static int
cmd_vol_rename(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len)
{
	struct mon_volume *v;
	const char *nn;
	int rc = vol_of(m, c, &v, err, err_len);

	if (rc < 0)
		return rc;
	if ((rc = arg_str(c, "new_name", MON_VOL_NAME_MAX, &nn, err, err_len)) < 0)
		return rc;
	if (!name_is_valid(nn))
		return fail(err, err_len, -EINVAL, "volume name '%s' has invalid characters", nn);
	if (mon_map_vol_by_name(m, nn))
		return fail(err, err_len, -EEXIST, "volume '%s' already exists", nn);
	snprintf(v->name, sizeof(v->name), "%s", nn);
	return 0;
}

struct cmd_def {
	const char *name;
	int (*fn)(struct mon_map *m, const struct mon_cmd *c, char *err, size_t err_len);
	bool remap; /* the change can move PGs */
};

static const struct cmd_def cmds[] = {
	{ "map init", cmd_map_init, false },
	{ "osd boot", cmd_osd_boot, true },
	{ "osd down", cmd_osd_down, true },
	{ "osd out", cmd_osd_out, true },
	{ "osd in", cmd_osd_in, true },
	{ "osd rm", cmd_osd_rm, true },
	{ "osd reweight", cmd_osd_reweight, true },
	{ "pool create", cmd_pool_create, true },
	{ "pool set", cmd_pool_set, true },
	{ "pool rm", cmd_pool_rm, false },
	{ "vol create", cmd_vol_create, false },
	{ "vol resize", cmd_vol_resize, false },
	{ "vol rm", cmd_vol_rm, false },
	{ "vol rename", cmd_vol_rename, false },
};

int
mon_map_apply(const struct mon_map *cur, const struct mon_cmd *cmd, struct mon_map **out,
	      char *err, size_t err_len)
{
	const struct cmd_def *def = NULL;
	struct mon_map *m;
	int rc;

	*out = NULL;
	if (err && err_len)
		err[0] = '\0';
	if (!cmd->name)
		return fail(err, err_len, -EINVAL, "empty command");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, cmd->name) == 0)
			def = &cmds[i];
	}
	if (!def)
		return fail(err, err_len, -EOPNOTSUPP, "unknown map command '%s'", cmd->name);
	m = mon_map_clone(cur);
	if (!m)
		return -ENOMEM;
	m->epoch = cur->epoch + 1;
	rc = def->fn(m, cmd, err, err_len);
	if (rc > 0) {
		/* Nothing changed: no new epoch. */
		mon_map_destroy(&m);
		return 0;
	}
	if (rc < 0)
		goto out_destroy;
	if (def->remap) {
		rc = mon_map_remap(m);
		if (rc < 0)
			goto out_destroy;
	}
	*out = m;
	return 0;

out_destroy:
	mon_map_destroy(&m);
	return rc;
}
