/*
 * libtessera configuration: one table of keys (name, parser, printer), and
 * three ways to fill it (string, file, environment).
 *
 * Parsing is strict and atomic: a string or a file is applied to a copy of
 * the configuration, which replaces the handle's only when every item was
 * valid, so a failed call changes nothing. Every rejection is logged (err)
 * with the key, the value and the reason, since the return value cannot say
 * which item was wrong.
 *
 * Durations are seconds ("30", "0.5") or a number with a unit suffix
 * (us, ms, s, m, h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_log.h"
#include "tsr_int.h"

#define TSR_CONF_FILE_MAX (1u << 20)
#define TSR_MON_ADDRS_MAX 16

struct conf_key {
	const char *name;
	int (*set)(struct tsr_conf *c, const char *v);
	int (*get)(const struct tsr_conf *c, char *buf, size_t len);
};

void
tsr__conf_defaults(struct tsr_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->op_timeout_us = 30ull * 1000000u;
	conf->connect_timeout_us = 10ull * 1000000u;
	conf->io_threads = 1;
	conf->queue_depth = 256;
	conf->log_level = RT_LOG_WARN;
}

/* A decimal number with an optional fraction and unit suffix, in us. */
static int
parse_duration_us(const char *s, uint64_t max_us, uint64_t *out)
{
	static const struct {
		const char *sfx;
		uint64_t mult;
	} units[] = { { "us", 1 },		{ "ms", 1000 },		{ "s", 1000000 },
		      { "m", 60ull * 1000000 }, { "h", 3600ull * 1000000 }, { "", 1000000 } };
	uint64_t ip = 0, frac = 0, frac_div = 1, mult = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (ip > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_div < 1000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_div *= 10;
			}
		}
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].sfx) == 0) {
			mult = units[i].mult;
			break;
		}
	}
	if (!mult)
		return -EINVAL;
	if (ip > max_us / mult)
		return -ERANGE;
	*out = ip * mult + frac * mult / frac_div;
	if (*out > max_us)
		return -ERANGE;
	return 0;
}

static int
parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno)
		return -EINVAL;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/* One "host:port" or "[v6]:port" of a mon list (len bytes at s). */
static int
mon_addr_check(const char *s, size_t len)
{
	const char *colon = NULL;
	unsigned long port = 0;
	size_t hl;

	for (size_t i = 0; i < len; i++)
		if (s[i] == ':')
			colon = s + i;
	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']')
		hl -= 2;
	if (hl == 0 || hl > 253)
		return -EINVAL;
	if (colon + 1 == s + len)
		return -EINVAL;
	for (const char *p = colon + 1; p < s + len; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
		if (port > 65535)
			return -EINVAL;
	}
	if (port == 0)
		return -EINVAL;
	for (const char *p = s; p < colon; p++) {
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return -EINVAL;
	}
	return 0;
}

int
tsr__conf_mon_check(const char *mon)
{
	const char *p = mon;
	unsigned n = 0;

	if (!mon || !*mon)
		return -EINVAL;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (mon_addr_check(p, len) < 0 || ++n > TSR_MON_ADDRS_MAX)
			return -EINVAL;
		if (!comma)
			break;
		p = comma + 1;
		if (!*p)
			return -EINVAL; /* trailing comma */
	}
	return 0;
}

static int
set_mon(struct tsr_conf *c, const char *v)
{
	if (strlen(v) >= sizeof(c->mon))
		return -ERANGE;
	if (tsr__conf_mon_check(v) < 0)
		return -EINVAL;
	snprintf(c->mon, sizeof(c->mon), "%s", v);
	return 0;
}

static int
get_mon(const struct tsr_conf *c, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s", c->mon) >= len ? -ERANGE : 0;
}

static int
print_secs(uint64_t us, char *buf, size_t len)
{
	int n;

	if (us % 1000000u == 0) {
		n = snprintf(buf, len, "%" PRIu64, us / 1000000u);
	} else {
		char frac[8];
		size_t fl;

		snprintf(frac, sizeof(frac), "%06" PRIu64, us % 1000000u);
		for (fl = strlen(frac); fl > 1 && frac[fl - 1] == '0'; fl--)
			frac[fl - 1] = '\0';
		n = snprintf(buf, len, "%" PRIu64 ".%s", us / 1000000u, frac);
	}
	return n < 0 || (size_t)n >= len ? -ERANGE : 0;
}

static int
set_op_timeout(struct tsr_conf *c, const char *v)
{
	return parse_duration_us(v, 86400ull * 1000000u, &c->op_timeout_us);
}

static int
get_op_timeout(const struct tsr_conf *c, char *buf, size_t len)
{
	return print_secs(c->op_timeout_us, buf, len);
}

static int
set_connect_timeout(struct tsr_conf *c, const char *v)
{
	uint64_t us;
	int rc = parse_duration_us(v, 3600ull * 1000000u, &us);

	if (rc < 0)
		return rc;
	if (us < 1000) /* at least a millisecond: 0 would never connect */
		return -ERANGE;
	c->connect_timeout_us = us;
	return 0;
}

static int
get_connect_timeout(const struct tsr_conf *c, char *buf, size_t len)
{
	return print_secs(c->connect_timeout_us, buf, len);
}

static int
set_io_threads(struct tsr_conf *c, const char *v)
{
	return parse_u32(v, 1, 64, &c->io_threads);
}

static int
get_io_threads(const struct tsr_conf *c, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%u", c->io_threads) >= len ? -ERANGE : 0;
}

static int
set_queue_depth(struct tsr_conf *c, const char *v)
{
	return parse_u32(v, 1, 65536, &c->queue_depth);
}

static int
get_queue_depth(const struct tsr_conf *c, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%u", c->queue_depth) >= len ? -ERANGE : 0;
}

static const char *const level_names[] = { "error", "warn", "info", "debug" };

static int
set_log_level(struct tsr_conf *c, const char *v)
{
	int lvl = rt_log_level_parse(v);

	if (lvl < 0)
		return -EINVAL;
	c->log_level = lvl;
	return 0;
}

static int
get_log_level(const struct tsr_conf *c, char *buf, size_t len)
{
	int l = c->log_level < 0 || c->log_level > RT_LOG_DEBUG ? RT_LOG_WARN : c->log_level;

	return (size_t)snprintf(buf, len, "%s", level_names[l]) >= len ? -ERANGE : 0;
}

static int
set_log_file(struct tsr_conf *c, const char *v)
{
	if (strlen(v) >= sizeof(c->log_file))
		return -ERANGE;
	snprintf(c->log_file, sizeof(c->log_file), "%s", v);
	return 0;
}

static int
get_log_file(const struct tsr_conf *c, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s", c->log_file) >= len ? -ERANGE : 0;
}

static const struct conf_key keys[] = {
	{ "mon", set_mon, get_mon },
	{ "op_timeout", set_op_timeout, get_op_timeout },
	{ "connect_timeout", set_connect_timeout, get_connect_timeout },
	{ "io_threads", set_io_threads, get_io_threads },
	{ "queue_depth", set_queue_depth, get_queue_depth },
	{ "log_level", set_log_level, get_log_level },
	{ "log_file", set_log_file, get_log_file },
};

static const struct conf_key *
key_find(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Set one key on conf; where says where it came from (for the log). */
static int
conf_set_one(struct tsr_conf *conf, const char *key, const char *value, const char *where)
{
	const struct conf_key *k = key_find(key);
	int rc;

	if (!k) {
		rt_err(RT_SS_CLIENT, "%sunknown configuration key '%s'", where, key);
		return -EINVAL;
	}
	rc = k->set(conf, value);
	if (rc < 0) {
		rt_err(RT_SS_CLIENT, "%sbad value '%s' for '%s': %s", where, value, key,
		       rc == -ERANGE ? "out of range" : "invalid");
		return -EINVAL;
	}
	return 0;
}

static bool
is_connected(struct tsr_cluster *cl)
{
	if (atomic_load(&cl->connected) || cl->ctl) {
		rt_err(RT_SS_CLIENT, "configuration cannot change once connected");
		return true;
	}
	return false;
}

int
tsr_conf_set(struct tsr_cluster *cl, const char *key, const char *value)
{
	if (!cl || !key || !value)
		return -EINVAL;
	if (is_connected(cl))
		return -EISCONN;
	return conf_set_one(&cl->conf, key, value, "");
}

int
tsr_conf_get(struct tsr_cluster *cl, const char *key, char *buf, size_t len)
{
	const struct conf_key *k;

	if (!cl || !key || !buf || !len)
		return -EINVAL;
	k = key_find(key);
	if (!k)
		return -ENOENT;
	return k->get(&cl->conf, buf, len);
}

/* Strip leading and trailing blanks in place; returns the new start. */
static char *
trim(char *s)
{
	char *e;

	while (*s && isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* One "key=value" item (already cut out of its line). */
static int
item_apply(struct tsr_conf *conf, char *item, const char *where)
{
	char *eq = strchr(item, '='), *key, *val;

	item = trim(item);
	if (!*item)
		return 0;
	if (!eq) {
		rt_err(RT_SS_CLIENT, "%s'%s': expected key=value", where, item);
		return -EINVAL;
	}
	*eq = '\0';
	key = trim(item);
	val = trim(eq + 1);
	if (!*key) {
		rt_err(RT_SS_CLIENT, "%s'=%s': missing key", where, val);
		return -EINVAL;
	}
	return conf_set_one(conf, key, val, where);
}

/* Whether the text [p, end) is name, blanks around it aside. */
static bool
key_is(const char *p, const char *end, const char *name)
{
	size_t n = strlen(name);

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	return (size_t)(end - p) == n && memcmp(p, name, n) == 0;
}

/*
 * One line of a config string: items separated by ';' or ','; the value of
 * mon runs to the next ';' or the end of the line (it holds commas itself).
 */
static int
line_apply(struct tsr_conf *conf, char *line, const char *where)
{
	char *seg = line;

	while (seg) {
		char *semi = strchr(seg, ';'), *p = seg;

		if (semi)
			*semi = '\0';
		while (p) {
			char *eq = strchr(p, '='), *comma = strchr(p, ',');
			bool is_mon = false;

			if (eq && (!comma || eq < comma)) {
				is_mon = key_is(p, eq, "mon");
				if (!is_mon)
					comma = strchr(eq, ',');
			}
			if (is_mon)
				comma = NULL;
			if (comma)
				*comma = '\0';
			if (item_apply(conf, p, where) < 0)
				return -EINVAL;
			p = comma ? comma + 1 : NULL;
		}
		seg = semi ? semi + 1 : NULL;
	}
	return 0;
}

int
tsr_conf_parse_string(struct tsr_cluster *cl, const char *str)
{
	struct tsr_conf tmp;
	char *copy, *line, *save = NULL;
	int rc = 0;

	if (!cl || !str)
		return -EINVAL;
	if (is_connected(cl))
		return -EISCONN;
	tmp = cl->conf;
	copy = strdup(str);
	if (!copy)
		return -ENOMEM;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#');

		if (hash)
			*hash = '\0';
		rc = line_apply(&tmp, line, "configuration string: ");
		if (rc < 0)
			break;
	}
	free(copy);
	if (rc == 0)
		cl->conf = tmp;
	return rc;
}

int
tsr_conf_read_file(struct tsr_cluster *cl, const char *path)
{
	struct tsr_conf tmp;
	char line[2048], where[600];
	unsigned lineno = 0;
	size_t total = 0;
	FILE *f;
	int rc = 0;

	if (!cl || !path)
		return -EINVAL;
	if (is_connected(cl))
		return -EISCONN;
	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		rt_err(RT_SS_CLIENT, "cannot read configuration file %s: %s", path, strerror(-rc));
		return rc;
	}
	tmp = cl->conf;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		char *hash, *eq, *key, *val;

		lineno++;
		total += len;
		snprintf(where, sizeof(where), "%s:%u: ", path, lineno);
		if (total > TSR_CONF_FILE_MAX) {
			rt_err(RT_SS_CLIENT, "%sfile larger than %u bytes", where, TSR_CONF_FILE_MAX);
			rc = -EINVAL;
			break;
		}
		if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
			rt_err(RT_SS_CLIENT, "%sline longer than %zu bytes", where,
			       sizeof(line) - 2);
			rc = -EINVAL;
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			rt_err(RT_SS_CLIENT, "%s'%s': expected key = value", where, key);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (!*key) {
			rt_err(RT_SS_CLIENT, "%smissing key", where);
			rc = -EINVAL;
			break;
		}
		rc = conf_set_one(&tmp, key, val, where);
		if (rc < 0)
			break;
	}
	if (rc == 0 && ferror(f)) {
		rc = -EIO;
		rt_err(RT_SS_CLIENT, "reading configuration file %s failed", path);
	}
	fclose(f);
	if (rc == 0)
		cl->conf = tmp;
	return rc;
}

int
tsr_conf_parse_env(struct tsr_cluster *cl)
{
	const char *v;
	int rc;

	if (!cl)
		return -EINVAL;
	if (is_connected(cl))
		return -EISCONN;
	v = getenv("TESSERA_CONF");
	if (v && *v) {
		rc = tsr_conf_read_file(cl, v);
		if (rc < 0)
			return rc;
	}
	v = getenv("TESSERA_MON");
	if (v && *v) {
		rc = conf_set_one(&cl->conf, "mon", v, "TESSERA_MON: ");
		if (rc < 0)
			return rc;
	}
	v = getenv("TESSERA_OP_TIMEOUT");
	if (v && *v) {
		rc = conf_set_one(&cl->conf, "op_timeout", v, "TESSERA_OP_TIMEOUT: ");
		if (rc < 0)
			return rc;
	}
	return 0;
}
