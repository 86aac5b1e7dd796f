/* libtessera: version and error strings. */
#include <errno.h>
#include <string.h>

#include "rt_err.h"
#include "tessera/tessera.h"

void
tsr_version(int *major, int *minor, int *patch)
{
	if (major)
		*major = TSR_VERSION_MAJOR;
	if (minor)
		*minor = TSR_VERSION_MINOR;
	if (patch)
		*patch = TSR_VERSION_PATCH;
}

const char *
tsr_strerror(int err)
{
	if (err == -EILSEQ)
		return "miscompare";
	return rt_strerror(err);
}
