#include "rt_err.h"

#include <string.h>

const char *
rt_strerror(int rc)
{
	int e = rc < 0 ? -rc : rc;

	switch (e) {
#define RT_ERR_CASE(name, off, desc)                                                       \
	case name:                                                                         \
		return desc;
		RT_ERR_LIST(RT_ERR_CASE)
#undef RT_ERR_CASE
	default:
		break;
	}
	if (e == 0)
		return "success";
	if (e >= RT_ERR_BASE)
		return "unknown tessera error";
	/* strerror() of glibc returns a static string for known values. */
	return strerror(e);
}
