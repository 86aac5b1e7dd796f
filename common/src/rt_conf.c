/*
 * Option tables -> flag parser, config file, --help and markdown docs.
 * See rt_conf.h. Each program declares its options once; nothing else in the
 * program parses argv by hand.
 */
#include "rt_conf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Strings copied from a config file are tracked here so rt_conf_free can free them. */
struct conf_owned {
	struct conf_owned *next;
	void *cfg;
	char str[];
};
static struct conf_owned *g_owned;

static char *
conf_strdup(void *cfg, const char *s)
{
	size_t len = strlen(s);
	struct conf_owned *o = malloc(sizeof(*o) + len + 1);

	if (!o)
		return NULL;
	memcpy(o->str, s, len + 1);
	o->cfg = cfg;
	o->next = g_owned;
	g_owned = o;
	return o->str;
}

void
rt_conf_free(const struct rt_conf_table *t, void *cfg)
{
	struct conf_owned **pp = &g_owned;

	(void)t;
	while (*pp) {
		struct conf_owned *o = *pp;

		if (o->cfg == cfg) {
			*pp = o->next;
			free(o);
		} else {
			pp = &o->next;
		}
	}
}

int
rt_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		/* Accept "4K", "4KB", "4KiB". */
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int
rt_parse_duration_us(const char *s, uint64_t *out)
{
	char *end;
	double v;
	double mult;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (*end == '\0' || strcmp(end, "ms") == 0)
		mult = 1e3;
	else if (strcmp(end, "us") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1e6;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60e6;
	else
		return -EINVAL;
	if (v * mult > 1.8e19)
		return -EINVAL;
	*out = (uint64_t)(v * mult);
	return 0;
}

static const struct rt_conf_opt *
find_long(const struct rt_conf_table *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->n_opts; i++)
		if (strlen(t->opts[i].name) == len && strncmp(t->opts[i].name, name, len) == 0)
			return &t->opts[i];
	return NULL;
}

static const struct rt_conf_opt *
find_short(const struct rt_conf_table *t, char c)
{
	for (size_t i = 0; i < t->n_opts; i++)
		if (t->opts[i].short_name && t->opts[i].short_name == c)
			return &t->opts[i];
	return NULL;
}

static bool
bounded(const struct rt_conf_opt *o)
{
	return o->min != 0 || o->max != 0;
}

/* Apply text to one option. copy: the string must be copied (config file). */
static int
apply(const struct rt_conf_opt *o, void *cfg, const char *value, bool copy, char *err,
      size_t err_len)
{
	char *field = (char *)cfg + o->offset;
	uint64_t u;
	int rc;

	switch (o->type) {
	case RT_CONF_BOOL:
		if (!value || !strcmp(value, "1") || !strcasecmp(value, "true") ||
		    !strcasecmp(value, "yes") || !strcasecmp(value, "on"))
			*(bool *)field = true;
		else if (!strcmp(value, "0") || !strcasecmp(value, "false") ||
			 !strcasecmp(value, "no") || !strcasecmp(value, "off"))
			*(bool *)field = false;
		else
			goto bad;
		return 0;
	case RT_CONF_INT: {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(value, &end, 0);
		if (errno || end == value || *end)
			goto bad;
		if (bounded(o) && (v < o->min || v > o->max)) {
			snprintf(err, err_len, "--%s: %lld is out of range [%" PRId64 ", %" PRId64 "]",
				 o->name, v, o->min, o->max);
			return -EINVAL;
		}
		*(int64_t *)field = v;
		return 0;
	}
	case RT_CONF_SIZE:
	case RT_CONF_DURATION:
		rc = o->type == RT_CONF_SIZE ? rt_parse_size(value, &u)
					     : rt_parse_duration_us(value, &u);
		if (rc < 0)
			goto bad;
		if (bounded(o) && (u < (uint64_t)o->min || u > (uint64_t)o->max)) {
			snprintf(err, err_len, "--%s: '%s' is out of range [%" PRId64 ", %" PRId64 "]%s",
				 o->name, value, o->min, o->max,
				 o->type == RT_CONF_SIZE ? " bytes" : " us");
			return -EINVAL;
		}
		*(uint64_t *)field = u;
		return 0;
	case RT_CONF_STR:
	case RT_CONF_LIST: {
		const char *s = value;
		const char *old = *(const char **)field;

		if (o->type == RT_CONF_LIST && old && *old) {
			size_t n = strlen(old) + strlen(value) + 2;
			char *joined = malloc(n);

			if (!joined)
				return -ENOMEM;
			snprintf(joined, n, "%s,%s", old, value);
			s = conf_strdup(cfg, joined);
			free(joined);
		} else if (copy) {
			s = conf_strdup(cfg, value);
		}
		if (!s)
			return -ENOMEM;
		*(const char **)field = s;
		return 0;
	}
	case RT_CONF_ENUM:
		for (int i = 0; o->choices && o->choices[i]; i++) {
			if (strcmp(o->choices[i], value) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		{
			size_t len = (size_t)snprintf(err, err_len, "--%s: '%s' is not one of:",
						      o->name, value);
			for (int i = 0; o->choices && o->choices[i] && len < err_len; i++)
				len += (size_t)snprintf(err + len, err_len - len, " %s",
							o->choices[i]);
		}
		return -EINVAL;
	}
bad:
	snprintf(err, err_len, "--%s: '%s' is not a valid %s", o->name, value ? value : "",
		 o->type == RT_CONF_SIZE       ? "size (e.g. 4096, 4K, 1G)"
		 : o->type == RT_CONF_DURATION ? "duration (e.g. 500ms, 5s)"
		 : o->type == RT_CONF_BOOL     ? "boolean (true/false)"
					       : "integer");
	return -EINVAL;
}

int
rt_conf_set(const struct rt_conf_table *t, void *cfg, const char *name, const char *value,
	    char *err, size_t err_len)
{
	const struct rt_conf_opt *o = find_long(t, name, strlen(name));

	if (!o) {
		snprintf(err, err_len, "unknown option '%s'", name);
		return -ENOENT;
	}
	return apply(o, cfg, value, true, err, err_len);
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int
load_file(const struct rt_conf_table *t, void *cfg, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024], err[256];
	int lineno = 0, rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "%s: cannot open config file '%s': %s\n", t->prog, path,
			strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *name, *value;

		lineno++;
		s = strchr(line, '#');
		if (s)
			*s = '\0';
		s = trim(line);
		if (!*s)
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			fprintf(stderr, "%s: %s:%d: expected 'name = value'\n", t->prog, path, lineno);
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		if (strcmp(name, "config") == 0)
			continue;
		rc = rt_conf_set(t, cfg, name, value, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s: %s:%d: %s\n", t->prog, path, lineno, err);
			rc = -EINVAL;
			break;
		}
	}
	fclose(f);
	return rc;
}

static void
apply_defaults(const struct rt_conf_table *t, void *cfg)
{
	char err[256];

	for (size_t i = 0; i < t->n_opts; i++) {
		const struct rt_conf_opt *o = &t->opts[i];
		char *field = (char *)cfg + o->offset;

		switch (o->type) {
		case RT_CONF_BOOL:
			*(bool *)field = false;
			break;
		case RT_CONF_INT:
			*(int64_t *)field = 0;
			break;
		case RT_CONF_SIZE:
		case RT_CONF_DURATION:
			*(uint64_t *)field = 0;
			break;
		case RT_CONF_STR:
		case RT_CONF_LIST:
			*(const char **)field = NULL;
			break;
		case RT_CONF_ENUM:
			*(int *)field = 0;
			break;
		}
		/* Defaults are written by us: a bad one is a bug, say so loudly. */
		if (o->def && apply(o, cfg, o->def, false, err, sizeof(err)) < 0)
			fprintf(stderr, "%s: bad default for --%s: %s\n", t->prog, o->name, err);
	}
}

int
rt_conf_parse(const struct rt_conf_table *t, void *cfg, int argc, char **argv, int *first_arg)
{
	char err[256];
	const char *config_path = NULL;
	int nonopt = 0;
	char **rest;
	int rc;

	apply_defaults(t, cfg);

	/* First pass: --help, --help-md and --config, so the file applies before flags. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			rt_conf_usage(t, stdout);
			return 1;
		}
		if (!strcmp(argv[i], "--help-md")) {
			rt_conf_markdown(t, stdout);
			return 1;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config_path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config_path = argv[i] + 9;
	}
	if (config_path) {
		rc = load_file(t, cfg, config_path);
		if (rc < 0)
			return -EINVAL;
	}

	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return -ENOMEM;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		const struct rt_conf_opt *o = NULL;
		const char *value = NULL;
		bool negate = false;

		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				rest[nonopt++] = argv[i];
			break;
		}
		if (a[0] != '-' || a[1] == '\0') {
			rest[nonopt++] = a;
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			if (len == 6 && !strncmp(name, "config", 6)) {
				if (!eq)
					i++;
				continue;
			}
			o = find_long(t, name, len);
			if (!o && len > 3 && !strncmp(name, "no-", 3)) {
				o = find_long(t, name + 3, len - 3);
				if (o && o->type == RT_CONF_BOOL)
					negate = true;
				else
					o = NULL;
			}
			if (eq)
				value = eq + 1;
		} else if (a[2] == '\0') {
			o = find_short(t, a[1]);
		}
		if (!o) {
			fprintf(stderr, "%s: unknown option '%s' (see --help)\n", t->prog, a);
			rc = -EINVAL;
			goto out;
		}
		if (o->type == RT_CONF_BOOL && !value) {
			value = negate ? "false" : "true";
		} else if (!value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "%s: option '--%s' needs a value (see --help)\n",
					t->prog, o->name);
				rc = -EINVAL;
				goto out;
			}
			value = argv[++i];
		}
		rc = apply(o, cfg, value, false, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", t->prog, err);
			rc = -EINVAL;
			goto out;
		}
	}
	/* Move the non-option arguments to the end of argv, in order. */
	for (int i = 0; i < nonopt; i++)
		argv[argc - nonopt + i] = rest[i];
	if (first_arg)
		*first_arg = argc - nonopt;
	rc = 0;
out:
	free(rest);
	return rc;
}

static const char *
metavar(const struct rt_conf_opt *o)
{
	if (o->metavar)
		return o->metavar;
	switch (o->type) {
	case RT_CONF_BOOL:
		return "";
	case RT_CONF_INT:
		return "N";
	case RT_CONF_SIZE:
		return "SIZE";
	case RT_CONF_DURATION:
		return "TIME";
	case RT_CONF_ENUM:
		return "CHOICE";
	default:
		return "VALUE";
	}
}

static void
choices_text(const struct rt_conf_opt *o, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	if (o->type != RT_CONF_ENUM || !o->choices)
		return;
	for (int i = 0; o->choices[i] && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "|" : "", o->choices[i]);
}

void
rt_conf_usage(const struct rt_conf_table *t, FILE *out)
{
	fprintf(out, "Usage: %s %s\n\n", t->prog, t->synopsis ? t->synopsis : "[OPTIONS]");
	if (t->description)
		fprintf(out, "%s\n\n", t->description);
	fprintf(out, "Options:\n");
	for (size_t i = 0; i < t->n_opts; i++) {
		const struct rt_conf_opt *o = &t->opts[i];
		char left[400], ch[256];
		const char *mv = metavar(o);

		choices_text(o, ch, sizeof(ch));
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
				 *mv ? " " : "", *ch ? ch : mv);
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, *mv ? " " : "",
				 *ch ? ch : mv);
		fprintf(out, "  %-34s %s", left, o->help ? o->help : "");
		if (o->def && o->type != RT_CONF_BOOL)
			fprintf(out, " [default: %s]", o->def);
		if (o->runtime)
			fprintf(out, " (run-time)");
		fputc('\n', out);
	}
	fprintf(out, "  %-34s %s\n", "    --config FILE",
		"read options from FILE ('name = value' lines, same names as the flags)");
	fprintf(out, "  %-34s %s\n", "-h, --help", "show this help and exit");
}

void
rt_conf_markdown(const struct rt_conf_table *t, FILE *out)
{
	fprintf(out, "## %s\n\n", t->prog);
	if (t->description)
		fprintf(out, "%s\n\n", t->description);
	fprintf(out, "| option | value | default | run-time | description |\n");
	fprintf(out, "| --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < t->n_opts; i++) {
		const struct rt_conf_opt *o = &t->opts[i];
		char ch[256];

		choices_text(o, ch, sizeof(ch));
		fprintf(out, "| `--%s`%s%c%s | %s | %s | %s | %s |\n", o->name,
			o->short_name ? " / `-" : "", o->short_name ? o->short_name : ' ',
			o->short_name ? "`" : "", *ch ? ch : metavar(o),
			o->def ? o->def : "", o->runtime ? "yes" : "no", o->help ? o->help : "");
	}
	fputc('\n', out);
}
