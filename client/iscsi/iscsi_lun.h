/*
 * LUN backends: libtessera volumes (iscsi_lun_tsr.c) and RAM disks
 * (iscsi_lun_ram.c, for development and tests without a cluster), plus the
 * per-worker libtessera queue wrappers the worker loop uses.
 */
#ifndef ISCSI_LUN_H
#define ISCSI_LUN_H

#include <stdbool.h>
#include <stdint.h>

#include "iscsi_scsi.h"

/* Open volume `name` of the connected cluster as LUN `lun`; with pr_shared its
 * persistent reservations live in the cluster (iscsi_pr_store.c). Returns 0 or -errno. */
int iscsi_lun_open_tsr(void *cluster, uint64_t lun, const char *name, bool pr_shared,
		       struct iscsi_lun **out);
/* A RAM LUN of size_bytes (a multiple of 4096). Returns 0 or -errno. */
int iscsi_lun_open_ram(uint64_t lun, uint64_t size_bytes, const char *name,
		       struct iscsi_lun **out);
bool iscsi_lun_is_ram(const struct iscsi_lun *lun);
void iscsi_lun_ram_free(struct iscsi_lun *lun);
/* Release hook for the last reference (closes the volume or frees the RAM). */
void iscsi_lun_release(struct iscsi_lun *lun);

/* libtessera's per-thread queue, behind void pointers (only iscsi_lun_tsr.c
 * includes tessera.h). Same contracts as tsr_queue_*. */
int iscsi_tsrq_create(void *cluster, void **q, int *fd);
int iscsi_tsrq_poll(void *q);
void iscsi_tsrq_wait(void *q, int64_t timeout_us);
int iscsi_tsrq_destroy(void *q);

#endif
