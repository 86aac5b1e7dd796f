/*
 * Test helper for integ_iscsi_multipath: persistent reservations seen through
 * two gateways. Session A (URL_A) registers and takes a WRITE EXCLUSIVE
 * reservation; session B (URL_B, another gateway) registers and must get
 * RESERVATION CONFLICT on WRITE (polled, bounded: the change reaches the other
 * gateway with the cluster's metadata push) but GOOD on READ; B preempts A; A
 * then sees REGISTRATIONS PREEMPTED and RESERVATION CONFLICT; B clears; both
 * write again.
 *
 *   tessera-iscsi-pr-check URL_A URL_B
 */
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct iscsi_context *
login(const char *url_s, const char *initiator, int *lun)
{
	struct iscsi_context *ctx = iscsi_create_context(initiator);
	struct iscsi_url *url = ctx ? iscsi_parse_full_url(ctx, url_s) : NULL;

	if (!url) {
		fprintf(stderr, "bad URL %s\n", url_s);
		exit(1);
	}
	iscsi_set_targetname(ctx, url->target);
	iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(ctx, url->portal, url->lun) != 0) {
		fprintf(stderr, "login to %s failed: %s\n", url_s, iscsi_get_error(ctx));
		exit(1);
	}
	*lun = url->lun;
	iscsi_destroy_url(url);
	return ctx;
}

/* SCSI status of a command, with the sense ASC/ASCQ in *ascq (-1: no task). */
static int
status_of(struct scsi_task *t, int *ascq)
{
	int st;

	if (!t)
		return -1;
	st = t->status;
	if (ascq)
		*ascq = t->sense.ascq;
	scsi_free_scsi_task(t);
	return st;
}

static int
prout(struct iscsi_context *ctx, int lun, int sa, int type, uint64_t key, uint64_t sakey)
{
	struct scsi_persistent_reserve_out_basic p;

	memset(&p, 0, sizeof(p));
	p.reservation_key = key;
	p.service_action_reservation_key = sakey;
	return status_of(iscsi_persistent_reserve_out_sync(ctx, lun, sa, 0, type, &p), NULL);
}

static int
write1(struct iscsi_context *ctx, int lun, int *ascq)
{
	static unsigned char buf[4096];

	return status_of(iscsi_write10_sync(ctx, lun, 8, buf, sizeof(buf), 4096, 0, 0, 0, 0, 0),
			 ascq);
}

static int
read1(struct iscsi_context *ctx, int lun)
{
	return status_of(iscsi_read10_sync(ctx, lun, 8, 4096, 4096, 0, 0, 0, 0, 0), NULL);
}

#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, __VA_ARGS__);                                      \
			fprintf(stderr, "\n");                                             \
			return 1;                                                          \
		}                                                                          \
	} while (0)

/* Poll (bounded) until fn's status is want. */
static int
wait_status(struct iscsi_context *ctx, int lun, int want)
{
	int st = -1, ascq;

	for (int i = 0; i < 100; i++) {
		st = write1(ctx, lun, &ascq);
		if (st == want)
			return st;
		usleep(50000);
	}
	return st;
}

int
main(int argc, char **argv)
{
	struct iscsi_context *a, *b;
	int la, lb, st, ascq = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s URL_A URL_B\n", argv[0]);
		return 1;
	}
	a = login(argv[1], "iqn.2026-11.io.tessera:host-a", &la);
	b = login(argv[2], "iqn.2026-11.io.tessera:host-b", &lb);
	/* Clear what a previous run left. */
	for (int i = 0; i < 3; i++) {
		status_of(iscsi_testunitready_sync(a, la), NULL);
		status_of(iscsi_testunitready_sync(b, lb), NULL);
	}
	CHECK(prout(a, la, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, 0xa) ==
		      SCSI_STATUS_GOOD, "A: register");
	CHECK(prout(b, lb, SCSI_PERSISTENT_RESERVE_REGISTER_AND_IGNORE_EXISTING_KEY, 0, 0, 0xb) ==
		      SCSI_STATUS_GOOD, "B: register");
	CHECK(prout(a, la, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE,
		    0xa, 0) == SCSI_STATUS_GOOD, "A: reserve");
	CHECK(write1(a, la, NULL) == SCSI_STATUS_GOOD, "A: write as the holder");
	st = wait_status(b, lb, SCSI_STATUS_RESERVATION_CONFLICT);
	CHECK(st == SCSI_STATUS_RESERVATION_CONFLICT,
	      "B: write through the other gateway not in conflict (status %d)", st);
	CHECK(read1(b, lb) == SCSI_STATUS_GOOD, "B: read under WRITE EXCLUSIVE");
	/* B reserving too conflicts; preempting works. */
	CHECK(prout(b, lb, SCSI_PERSISTENT_RESERVE_RESERVE, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE,
		    0xb, 0) == SCSI_STATUS_RESERVATION_CONFLICT, "B: reserve must conflict");
	CHECK(prout(b, lb, SCSI_PERSISTENT_RESERVE_PREEMPT, SCSI_PERSISTENT_RESERVE_TYPE_WRITE_EXCLUSIVE,
		    0xb, 0xa) == SCSI_STATUS_GOOD, "B: preempt A");
	CHECK(write1(b, lb, NULL) == SCSI_STATUS_GOOD, "B: write as the new holder");
	/* A: first the unit attention, then conflicts. */
	st = -1;
	for (int i = 0; i < 100; i++) {
		st = write1(a, la, &ascq);
		if (st == SCSI_STATUS_CHECK_CONDITION && ascq == 0x2a05)
			break;
		usleep(50000);
	}
	CHECK(st == SCSI_STATUS_CHECK_CONDITION && ascq == 0x2a05,
	      "A: no REGISTRATIONS PREEMPTED unit attention (status %d ascq 0x%x)", st, ascq);
	CHECK(write1(a, la, NULL) == SCSI_STATUS_RESERVATION_CONFLICT, "A: write must conflict");
	CHECK(prout(b, lb, SCSI_PERSISTENT_RESERVE_CLEAR, 0, 0xb, 0) == SCSI_STATUS_GOOD,
	      "B: clear");
	st = wait_status(a, la, SCSI_STATUS_GOOD);
	CHECK(st == SCSI_STATUS_GOOD, "A: write after clear (status %d)", st);
	printf("reservations agree across gateways\n");
	iscsi_logout_sync(a);
	iscsi_logout_sync(b);
	iscsi_destroy_context(a);
	iscsi_destroy_context(b);
	return 0;
}
