/*
 * Weak no-op stand-ins for the I/O side's entry points (tsr_int.h), so that
 * the control side links and runs before the I/O side exists. The I/O side's
 * strong definitions win in the shared library; delete this file once they
 * are in (a static archive may otherwise pick these up).
 */
#include <errno.h>

#include "tsr_int.h"

__attribute__((weak)) int
tsr__io_init(struct tsr_cluster *cl)
{
	(void)cl;
	return 0;
}

__attribute__((weak)) void
tsr__io_fini(struct tsr_cluster *cl)
{
	(void)cl;
}

__attribute__((weak)) void
tsr__io_map_changed(struct tsr_cluster *cl)
{
	(void)cl;
}

__attribute__((weak)) int
tsr__io_volume_open(struct tsr_volume *vol)
{
	(void)vol;
	return 0;
}

__attribute__((weak)) void
tsr__io_volume_close(struct tsr_volume *vol)
{
	(void)vol;
}

__attribute__((weak)) int
tsr__io_trim(struct tsr_cluster *cl, uint32_t pool, uint64_t vol_id, uint32_t object_size,
	     uint64_t from, uint64_t to)
{
	(void)cl;
	(void)pool;
	(void)vol_id;
	(void)object_size;
	(void)from;
	(void)to;
	return 0;
}
