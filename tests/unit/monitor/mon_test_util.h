/* Helpers shared by the monitor's unit tests (included by each test's .c). */
#ifndef MON_TEST_UTIL_H
#define MON_TEST_UTIL_H

#include <check.h>
#include <stdarg.h>

#include "mon_cmd.h"
#include "mon_map.h"

/* The error text of the last run(). */
static char err[256];

/* Apply a command given as "name", key, value, ..., NULL; returns rc, replaces *m. */
static int
run(struct mon_map **m, const char *name, ...)
{
	struct mon_cmd c;
	struct mon_map *nm;
	va_list ap;
	const char *k;
	int rc;

	mon_cmd_init(&c, name);
	va_start(ap, name);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);

		ck_assert_int_eq(mon_cmd_add(&c, k, v), 0);
	}
	va_end(ap);
	rc = mon_map_apply(*m, &c, &nm, err, sizeof(err));
	if (rc == 0 && nm) {
		mon_map_destroy(m);
		*m = nm;
	}
	return rc;
}

#endif
