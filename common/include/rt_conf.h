/*
 * Configuration: one format for every program. Each program declares its
 * options once, in a table (name, type, default, bounds, run-time changeable,
 * help). From that table come the parser for command-line flags
 * (`--name value` or `--name=value`, `-x value` for a short name), the
 * optional config file (`--config FILE`: lines `name = value`, `#` comments,
 * the same names as the flags), `--help`, and docs/config.md (`--help-md`).
 * Precedence: defaults < config file < command line.
 */
#ifndef RT_CONF_H
#define RT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum rt_conf_type {
	RT_CONF_BOOL,     /* bool; a bare flag sets true, "--no-name" sets false */
	RT_CONF_INT,      /* int64_t */
	RT_CONF_SIZE,     /* uint64_t bytes; accepts K/M/G/T suffixes (powers of 1024) */
	RT_CONF_DURATION, /* uint64_t microseconds; accepts us/ms/s/m suffixes (bare = ms) */
	RT_CONF_STR,      /* const char *; points into argv or a copy owned by the parser */
	RT_CONF_ENUM,     /* int; index into choices[] */
	RT_CONF_LIST,     /* const char *; may be repeated, values joined with ',' */
};

struct rt_conf_opt {
	const char *name;   /* long name without "--" */
	char short_name;    /* 0 if none */
	enum rt_conf_type type;
	size_t offset;      /* offsetof(struct my_config, field) */
	const char *def;    /* default as text (NULL: zero / NULL) */
	int64_t min, max;   /* bounds for INT/SIZE/DURATION (min == max == 0: unbounded) */
	bool runtime;       /* can change while running (documented; set by admin commands) */
	const char *help;   /* one line */
	const char *const *choices; /* RT_CONF_ENUM: NULL-terminated */
	const char *metavar;        /* e.g. "PATH"; defaults from the type */
};

struct rt_conf_table {
	const char *prog;        /* "tessera-osd" */
	const char *synopsis;    /* "[OPTIONS]" or "COMMAND [OPTIONS]" */
	const char *description; /* a paragraph for --help and docs */
	const struct rt_conf_opt *opts;
	size_t n_opts;
};

/*
 * Fill cfg with defaults, then apply --config FILE (if given), then the flags.
 * Non-option arguments are moved, in order, to argv[*first_arg..argc-1]
 * (argv is permuted); "--" ends options. On --help prints usage to stdout and
 * returns 1; on --help-md prints the markdown table and returns 1.
 * Returns 0 on success, 1 for help, or -EINVAL after printing a clear message
 * ("prog: --size: '4Q' is not a size") to stderr.
 */
int rt_conf_parse(const struct rt_conf_table *t, void *cfg, int argc, char **argv,
		  int *first_arg);

/* Set one option by name from text (config file, admin command). Returns 0 or -EINVAL/-ENOENT. */
int rt_conf_set(const struct rt_conf_table *t, void *cfg, const char *name, const char *value,
		char *err, size_t err_len);

void rt_conf_usage(const struct rt_conf_table *t, FILE *out);
void rt_conf_markdown(const struct rt_conf_table *t, FILE *out);

/* Free strings the parser copied (from a config file). */
void rt_conf_free(const struct rt_conf_table *t, void *cfg);

/* Helpers, exposed for other parsers. Return 0 or -EINVAL. */
int rt_parse_size(const char *s, uint64_t *out);
int rt_parse_duration_us(const char *s, uint64_t *out);

#endif
