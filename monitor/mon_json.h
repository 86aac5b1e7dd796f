/*
 * A small streaming JSON writer for admin replies (monitor) and tools:
 * objects, arrays, strings with escaping, numbers. Writes to a FILE (use
 * open_memstream for a buffer). Commas are placed automatically.
 */
#ifndef MON_JSON_H
#define MON_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define MON_JSON_MAX_DEPTH 32

struct mon_json {
	FILE *f;
	int depth;
	bool first[MON_JSON_MAX_DEPTH];
};

void mon_json_init(struct mon_json *j, FILE *f);
/* key is NULL inside arrays and at the top level. */
void mon_json_obj_begin(struct mon_json *j, const char *key);
void mon_json_obj_end(struct mon_json *j);
void mon_json_arr_begin(struct mon_json *j, const char *key);
void mon_json_arr_end(struct mon_json *j);
void mon_json_str(struct mon_json *j, const char *key, const char *val);
void mon_json_u64(struct mon_json *j, const char *key, uint64_t val);
void mon_json_i64(struct mon_json *j, const char *key, int64_t val);
void mon_json_double(struct mon_json *j, const char *key, double val);
void mon_json_bool(struct mon_json *j, const char *key, bool val);

#endif
