/* Streaming JSON writer; see mon_json.h. */
#include "mon_json.h"

#include <inttypes.h>
#include <math.h>

void
mon_json_init(struct mon_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = true;
}

static void
put_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void
prefix(struct mon_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (key) {
		put_escaped(j->f, key);
		fputc(':', j->f);
	}
}

static void
open_(struct mon_json *j, const char *key, char c)
{
	prefix(j, key);
	fputc(c, j->f);
	if (j->depth + 1 < MON_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void
close_(struct mon_json *j, char c)
{
	fputc(c, j->f);
	if (j->depth > 0)
		j->depth--;
}

void
mon_json_obj_begin(struct mon_json *j, const char *key)
{
	open_(j, key, '{');
}

void
mon_json_obj_end(struct mon_json *j)
{
	close_(j, '}');
}

void
mon_json_arr_begin(struct mon_json *j, const char *key)
{
	open_(j, key, '[');
}

void
mon_json_arr_end(struct mon_json *j)
{
	close_(j, ']');
}

void
mon_json_str(struct mon_json *j, const char *key, const char *val)
{
	prefix(j, key);
	put_escaped(j->f, val);
}

void
mon_json_u64(struct mon_json *j, const char *key, uint64_t val)
{
	prefix(j, key);
	fprintf(j->f, "%" PRIu64, val);
}

void
mon_json_i64(struct mon_json *j, const char *key, int64_t val)
{
	prefix(j, key);
	fprintf(j->f, "%" PRId64, val);
}

void
mon_json_double(struct mon_json *j, const char *key, double val)
{
	prefix(j, key);
	if (isfinite(val))
		fprintf(j->f, "%.6g", val);
	else
		fputs("null", j->f);
}

void
mon_json_bool(struct mon_json *j, const char *key, bool val)
{
	prefix(j, key);
	fputs(val ? "true" : "false", j->f);
}
