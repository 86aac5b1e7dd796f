/*
 * Test helper for integ_iscsi: one libiscsi session that lives across a
 * volume resize. Logs in, checks TEST UNIT READY is GOOD and READ CAPACITY(16)
 * says OLD_BYTES, runs CMD (the resize), then polls TEST UNIT READY (bounded)
 * until it reports UNIT ATTENTION / CAPACITY DATA HAS CHANGED, and checks that
 * READ CAPACITY(16) then says NEW_BYTES.
 *
 *   tessera-iscsi-ua-check URL OLD_BYTES NEW_BYTES CMD...
 * Exit 0 on success, 1 with a message otherwise.
 */
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
capacity(struct iscsi_context *ctx, int lun, unsigned long long *bytes)
{
	struct scsi_task *t = iscsi_readcapacity16_sync(ctx, lun);
	struct scsi_readcapacity16 *rc16;

	if (!t || t->status != SCSI_STATUS_GOOD) {
		if (t)
			scsi_free_scsi_task(t);
		return -1;
	}
	rc16 = scsi_datain_unmarshall(t);
	if (!rc16) {
		scsi_free_scsi_task(t);
		return -1;
	}
	*bytes = (rc16->returned_lba + 1) * (unsigned long long)rc16->block_length;
	scsi_free_scsi_task(t);
	return 0;
}

int
main(int argc, char **argv)
{
	struct iscsi_context *ctx;
	struct iscsi_url *url;
	struct scsi_task *t;
	unsigned long long old_b, new_b, got = 0;
	pid_t pid;
	int status, i, ua = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: %s URL OLD_BYTES NEW_BYTES CMD...\n", argv[0]);
		return 1;
	}
	old_b = strtoull(argv[2], NULL, 10);
	new_b = strtoull(argv[3], NULL, 10);
	ctx = iscsi_create_context("iqn.2026-11.io.tessera:ua-check");
	url = ctx ? iscsi_parse_full_url(ctx, argv[1]) : NULL;
	if (!url) {
		fprintf(stderr, "bad URL %s\n", argv[1]);
		return 1;
	}
	iscsi_set_targetname(ctx, url->target);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(ctx, url->portal, url->lun) != 0) {
		fprintf(stderr, "login failed: %s\n", iscsi_get_error(ctx));
		return 1;
	}
	/* Clear anything pending, then expect GOOD. */
	for (i = 0; i < 3; i++) {
		t = iscsi_testunitready_sync(ctx, url->lun);
		if (t && t->status == SCSI_STATUS_GOOD) {
			scsi_free_scsi_task(t);
			break;
		}
		if (t)
			scsi_free_scsi_task(t);
	}
	if (capacity(ctx, url->lun, &got) || got != old_b) {
		fprintf(stderr, "capacity before: %llu, expected %llu\n", got, old_b);
		return 1;
	}
	pid = fork();
	if (pid == 0) {
		execvp(argv[4], argv + 4);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "resize command failed\n");
		return 1;
	}
	/* The watch reaches the target at once; allow up to 10 s. */
	for (i = 0; i < 200 && !ua; i++) {
		t = iscsi_testunitready_sync(ctx, url->lun);
		if (!t) {
			fprintf(stderr, "TUR failed: %s\n", iscsi_get_error(ctx));
			return 1;
		}
		if (t->status == SCSI_STATUS_CHECK_CONDITION &&
		    t->sense.key == SCSI_SENSE_UNIT_ATTENTION && t->sense.ascq == 0x2a09)
			ua = 1;
		scsi_free_scsi_task(t);
		if (!ua)
			usleep(50000);
	}
	if (!ua) {
		fprintf(stderr, "no CAPACITY DATA HAS CHANGED unit attention\n");
		return 1;
	}
	if (capacity(ctx, url->lun, &got) || got != new_b) {
		fprintf(stderr, "capacity after: %llu, expected %llu\n", got, new_b);
		return 1;
	}
	printf("unit attention CAPACITY DATA HAS CHANGED; capacity %llu -> %llu\n", old_b, got);
	iscsi_logout_sync(ctx);
	iscsi_destroy_url(url);
	iscsi_destroy_context(ctx);
	return 0;
}
