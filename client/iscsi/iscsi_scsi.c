/*
 * SCSI command layer: CDB decoding, sense data, the block commands over the
 * LUN backend, mode pages, VPD pages and persistent reservations. See
 * iscsi_scsi.h for the contract with the transport.
 *
 * Multi-step commands (WRITE SAME over a long range, UNMAP with several
 * descriptors, VERIFY with BYTCHK) keep their position in the command
 * (pos/end/step) and continue from the backend's completion callback, one
 * backend request at a time. A backend that says -EAGAIN (its queue is full)
 * parks the command on the worker's wait list; iscsi_ioq_retry() re-runs its
 * resume step after completions have freed room.
 */
#include "iscsi_scsi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "iscsi_pdu.h"

/* Limits reported in the Block Limits VPD page (blocks unless noted). */
#define MAX_CAW_BLOCKS 16u
#define MAX_UNMAP_BLOCKS (1u << 20)     /* 4 GiB per UNMAP */
#define MAX_UNMAP_DESCRIPTORS 64u
#define ZERO_CHUNK_BLOCKS (1u << 16)    /* 256 MiB per discard/write-zeroes call */

static const uint8_t zero_block[ISCSI_BLOCK_SIZE];

/* ------------------------------------------------------------------ sense */

void
iscsi_scsi_sense(struct iscsi_scmd *cmd, uint8_t key, uint16_t asc)
{
	uint8_t *s = cmd->sense;

	memset(s, 0, ISCSI_SENSE_MAX);
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
	cmd->in_len = 0;
	if (cmd->nexus && cmd->nexus->d_sense) {
		s[0] = 0x72;
		s[1] = key;
		s[2] = (uint8_t)(asc >> 8);
		s[3] = (uint8_t)asc;
		s[7] = 0;
		cmd->sense_len = 8;
	} else {
		s[0] = 0x70;
		s[2] = key;
		s[7] = 10;
		s[12] = (uint8_t)(asc >> 8);
		s[13] = (uint8_t)asc;
		cmd->sense_len = 18;
	}
}

/* Sense with the INFORMATION field set (miscompare offsets). */
static void
sense_info(struct iscsi_scmd *cmd, uint8_t key, uint16_t asc, uint64_t info)
{
	uint8_t *s = cmd->sense;

	iscsi_scsi_sense(cmd, key, asc);
	if (s[0] == 0x72) {
		s[7] = 12;
		s[8] = 0x00;  /* information descriptor */
		s[9] = 0x0a;
		s[10] = 0x80; /* VALID */
		iscsi_put64(s + 12, info);
		cmd->sense_len = 20;
	} else {
		s[0] |= 0x80;
		iscsi_put32(s + 3, (uint32_t)info);
	}
}

static int
finish_sense(struct iscsi_scmd *cmd, uint8_t key, uint16_t asc)
{
	iscsi_scsi_sense(cmd, key, asc);
	return 1;
}

static int
bad_cdb(struct iscsi_scmd *cmd)
{
	return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
}

/* INVALID FIELD IN CDB with the sense-key specific field pointer (SKSV, C/D=1). */
static int
bad_cdb_at(struct iscsi_scmd *cmd, uint16_t byte)
{
	uint8_t *s = cmd->sense;

	iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (s[0] == 0x72) {
		s[7] = 8;
		s[8] = 0x02; /* sense key specific descriptor */
		s[9] = 0x06;
		s[12] = 0x80 | 0x40;
		iscsi_put16(s + 13, byte);
		cmd->sense_len = 16;
	} else {
		s[15] = 0x80 | 0x40;
		iscsi_put16(s + 16, byte);
	}
	return 1;
}

static int
good(struct iscsi_scmd *cmd, uint32_t in_len)
{
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->in_len = in_len;
	return 1;
}

/* Map a backend error to a status. */
static void
sense_from_errno(struct iscsi_scmd *cmd, ssize_t rc, bool write)
{
	switch (rc) {
	case -ERANGE:
		iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		break;
	case -ENOENT:
		iscsi_scsi_sense(cmd, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		break;
	case -ETIMEDOUT:
	case -ENOTCONN:
	case -ECANCELED:
		/* LOGICAL UNIT IS IN PROCESS OF BECOMING READY: initiators retry. */
		iscsi_scsi_sense(cmd, SK_NOT_READY, 0x0401);
		break;
	case -ENOSPC:
		iscsi_scsi_sense(cmd, SK_DATA_PROTECT, 0x2707);
		break;
	case -EIO:
		iscsi_scsi_sense(cmd, SK_MEDIUM_ERROR,
				 write ? ASC_WRITE_ERROR : ASC_UNRECOVERED_READ_ERROR);
		break;
	default:
		iscsi_scsi_sense(cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
		break;
	}
}

/* --------------------------------------------------------------- LUN / ioq */

uint64_t
iscsi_lun_encode(uint64_t lun)
{
	if (lun < 256)
		return lun << 48;
	return ((0x4000 | (lun & 0x3fff)) << 48);
}

uint64_t
iscsi_lun_decode(uint64_t raw)
{
	unsigned method = (unsigned)(raw >> 62);
	uint64_t first = raw >> 48;

	if (method == 0) /* peripheral: bus 0 only */
		return ((first >> 8) & 0x3f) ? UINT64_MAX : (first & 0xff);
	if (method == 1) /* flat space */
		return first & 0x3fff;
	return UINT64_MAX;
}

void
iscsi_lun_init(struct iscsi_lun *lun)
{
	memset(&lun->pr, 0, sizeof(lun->pr));
	pthread_mutex_init(&lun->pr.lock, NULL);
	atomic_init(&lun->pr.active, false);
	atomic_init(&lun->size_gen, 0);
	atomic_init(&lun->reset_gen, 0);
	atomic_init(&lun->refs, 1);
}

void
iscsi_lun_fini(struct iscsi_lun *lun)
{
	pthread_mutex_destroy(&lun->pr.lock);
}

void
iscsi_ioq_defer(struct iscsi_ioq *q, struct iscsi_defer *def, iscsi_io_cb cb, void *arg,
		ssize_t result)
{
	def->next = NULL;
	def->cb = cb;
	def->arg = arg;
	def->result = result;
	if (q->defer_tail)
		q->defer_tail->next = def;
	else
		q->defer_head = def;
	q->defer_tail = def;
}

unsigned
iscsi_ioq_run_deferred(struct iscsi_ioq *q)
{
	struct iscsi_defer *d = q->defer_head;
	unsigned n = 0;

	/* Take the whole list: callbacks may defer more (run on the next pass). */
	q->defer_head = q->defer_tail = NULL;
	while (d) {
		struct iscsi_defer *next = d->next;

		d->cb(d->arg, d->result);
		d = next;
		n++;
	}
	return n;
}

static void
park(struct iscsi_scmd *cmd, int (*resume)(struct iscsi_scmd *cmd))
{
	struct iscsi_ioq *q = cmd->ioq;

	cmd->resume = resume;
	cmd->wait_next = NULL;
	if (q->wait_tail)
		q->wait_tail->wait_next = cmd;
	else
		q->wait_head = cmd;
	q->wait_tail = cmd;
}

void
iscsi_ioq_retry(struct iscsi_ioq *q)
{
	struct iscsi_scmd *cmd = q->wait_head;

	q->wait_head = q->wait_tail = NULL;
	while (cmd) {
		struct iscsi_scmd *next = cmd->wait_next;
		int (*resume)(struct iscsi_scmd *) = cmd->resume;

		cmd->resume = NULL;
		/* resume re-parks on -EAGAIN; a finished command completes via done. */
		if (resume(cmd) == 1)
			cmd->done(cmd);
		cmd = next;
	}
}

/* ------------------------------------------------------ persistent reserve */

static struct iscsi_pr_reg *
pr_find(struct iscsi_pr *pr, const char *nexus)
{
	for (unsigned i = 0; i < pr->nreg; i++)
		if (strcmp(pr->reg[i].nexus, nexus) == 0)
			return &pr->reg[i];
	return NULL;
}

static bool
pr_all_registrants(uint8_t type)
{
	return type == 7 || type == 8;
}

static bool
pr_is_holder(struct iscsi_pr *pr, const char *nexus)
{
	if (!pr->reserved)
		return false;
	if (pr_all_registrants(pr->type))
		return pr_find(pr, nexus) != NULL;
	return strcmp(pr->holder, nexus) == 0;
}

static void
pr_update_active(struct iscsi_pr *pr)
{
	atomic_store(&pr->active, pr->reserved || pr->reserve6[0] || pr->nua > 0 || pr->nreg > 0);
}

static void
nexus_copy(char *dst, const char *src)
{
	size_t n = strnlen(src, ISCSI_NEXUS_ID_MAX - 1);

	memmove(dst, src, n);
	dst[n] = '\0';
}

static void
pr_add_ua(struct iscsi_pr *pr, const char *nexus, uint16_t asc)
{
	for (unsigned i = 0; i < pr->nua; i++)
		if (strcmp(pr->ua[i].nexus, nexus) == 0) {
			pr->ua[i].asc = asc;
			return;
		}
	if (pr->nua < ISCSI_PR_MAX_REG) {
		nexus_copy(pr->ua[pr->nua].nexus, nexus);
		pr->ua[pr->nua].asc = asc;
		pr->nua++;
	}
}

static void
pr_remove_reg(struct iscsi_pr *pr, unsigned i)
{
	pr->reg[i] = pr->reg[pr->nreg - 1];
	pr->nreg--;
}

/*
 * A preemption removes the registrations of the other I_T nexuses (every one,
 * or those with key sakey), each with a REGISTRATIONS PREEMPTED unit attention.
 */
static void
pr_preempt_others(struct iscsi_pr *pr, const char *me, bool every_key, uint64_t sakey)
{
	for (unsigned i = pr->nreg; i-- > 0;)
		if ((every_key || pr->reg[i].key == sakey) && strcmp(pr->reg[i].nexus, me) != 0) {
			pr_add_ua(pr, pr->reg[i].nexus, ASC_REGISTRATIONS_PREEMPTED);
			pr_remove_reg(pr, i);
		}
}

/* me takes the reservation from a preempted holder: a new PR generation. */
static void
pr_take(struct iscsi_pr *pr, const char *me, uint64_t key, uint8_t type)
{
	pr->type = type;
	nexus_copy(pr->holder, me);
	pr->holder_key = key;
	pr->generation++;
}

static void
pr_release(struct iscsi_pr *pr)
{
	pr->reserved = false;
	pr->type = 0;
	pr->holder[0] = 0;
	pr->holder_key = 0;
}

void
iscsi_pr_nexus_lost(struct iscsi_lun *lun, const char *nexus)
{
	struct iscsi_pr *pr = &lun->pr;

	pthread_mutex_lock(&pr->lock);
	if (strcmp(pr->reserve6, nexus) == 0)
		pr->reserve6[0] = 0;
	pr_update_active(pr);
	pthread_mutex_unlock(&pr->lock);
}

void
iscsi_pr_lun_reset(struct iscsi_lun *lun)
{
	struct iscsi_pr *pr = &lun->pr;

	pthread_mutex_lock(&pr->lock);
	pr->reserve6[0] = 0;
	pr_update_active(pr);
	pthread_mutex_unlock(&pr->lock);
}

enum access_class {
	ACC_NONE,  /* always allowed (INQUIRY, REPORT LUNS, PR IN/OUT, ...) */
	ACC_READ,
	ACC_WRITE,
};

/*
 * Reservation check (SPC-4 table 5.13 and SBC-4 4.18). Returns true when the
 * command conflicts. Also hands out a pending PR unit attention (ua != NULL).
 */
static bool
pr_conflicts(struct iscsi_scmd *cmd, enum access_class acc, uint16_t *ua)
{
	struct iscsi_pr *pr = &cmd->lun->pr;
	const char *me = cmd->nexus->id;
	bool conflict = false;

	*ua = 0;
	if (!atomic_load(&pr->active))
		return false;
	pthread_mutex_lock(&pr->lock);
	for (unsigned i = 0; i < pr->nua; i++) {
		if (strcmp(pr->ua[i].nexus, me) == 0) {
			*ua = pr->ua[i].asc;
			pr->ua[i] = pr->ua[pr->nua - 1];
			pr->nua--;
			break;
		}
	}
	if (acc != ACC_NONE && pr->reserve6[0] && strcmp(pr->reserve6, me) != 0)
		conflict = true;
	if (acc != ACC_NONE && pr->reserved && !pr_is_holder(pr, me)) {
		bool registered = pr_find(pr, me) != NULL;

		switch (pr->type) {
		case 1: /* write exclusive */
			conflict |= acc == ACC_WRITE;
			break;
		case 3: /* exclusive access */
			conflict = true;
			break;
		case 5: /* write exclusive, registrants only */
		case 7: /* write exclusive, all registrants */
			conflict |= acc == ACC_WRITE && !registered;
			break;
		case 6:
		case 8:
			conflict |= !registered;
			break;
		default:
			break;
		}
	}
	pr_update_active(pr);
	pthread_mutex_unlock(&pr->lock);
	return conflict;
}

static int
pr_in(struct iscsi_scmd *cmd)
{
	struct iscsi_pr *pr = &cmd->lun->pr;
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint32_t alloc = iscsi_get16(cmd->cdb + 7);
	uint8_t *b = cmd->buf;
	uint32_t len;

	memset(b, 0, 4096);
	pthread_mutex_lock(&pr->lock);
	switch (sa) {
	case 0: /* READ KEYS */
		iscsi_put32(b, pr->generation);
		for (unsigned i = 0; i < pr->nreg; i++)
			iscsi_put64(b + 8 + 8 * i, pr->reg[i].key);
		iscsi_put32(b + 4, 8 * pr->nreg);
		len = 8 + 8 * pr->nreg;
		break;
	case 1: /* READ RESERVATION */
		iscsi_put32(b, pr->generation);
		if (pr->reserved) {
			iscsi_put32(b + 4, 16);
			iscsi_put64(b + 8, pr_all_registrants(pr->type) ? 0 : pr->holder_key);
			b[21] = pr->type & 0x0f;
			len = 24;
		} else {
			len = 8;
		}
		break;
	case 2: /* REPORT CAPABILITIES */
		iscsi_put16(b, 8);
		b[2] = 0x10; /* CRH: RESERVE(6) conflicts resolved as SPC-4 says */
		b[3] = 0x80; /* TMV: the type mask is valid */
		b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
		b[5] = 0x01;
		len = 8;
		break;
	case 3: { /* READ FULL STATUS */
		uint32_t off = 8;

		iscsi_put32(b, pr->generation);
		for (unsigned i = 0; i < pr->nreg && off + 24 + 256 <= 4096; i++) {
			const char *n = pr->reg[i].nexus;
			size_t nl = strlen(n) + 1;
			uint32_t tid_len = (uint32_t)(4 + nl + iscsi_pad4((uint32_t)(4 + nl)));

			iscsi_put64(b + off, pr->reg[i].key);
			if (pr_is_holder(pr, n)) {
				b[off + 12] = 0x01; /* R_HOLDER */
				b[off + 13] = pr->type & 0x0f;
			}
			iscsi_put16(b + off + 18, cmd->nexus->rel_port_id);
			iscsi_put32(b + off + 20, tid_len);
			/* iSCSI TransportID, format 01b: name,i,0xISID */
			b[off + 24] = 0x45;
			iscsi_put16(b + off + 26, (uint16_t)(tid_len - 4));
			memcpy(b + off + 28, n, nl);
			off += 24 + tid_len;
		}
		iscsi_put32(b + 4, off - 8);
		len = off;
		break;
	}
	default:
		pthread_mutex_unlock(&pr->lock);
		return bad_cdb(cmd);
	}
	pthread_mutex_unlock(&pr->lock);
	return good(cmd, len < alloc ? len : alloc);
}

/*
 * PERSISTENT RESERVE OUT on the state pr (the caller holds pr->lock, or owns
 * a private copy). Sets the command's status/sense. Returns true when pr
 * changed.
 */
bool
iscsi_pr_out_apply(struct iscsi_pr *pr, struct iscsi_scmd *cmd)
{
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint8_t scope = cmd->cdb[2] >> 4, type = cmd->cdb[2] & 0x0f;
	const uint8_t *p = cmd->buf;
	uint64_t key, sakey;
	bool aptpl;
	const char *me = cmd->nexus->id;
	struct iscsi_pr_reg *reg;
	uint32_t gen0 = pr->generation;
	bool res0 = pr->reserved;
	uint8_t type0 = pr->type;
	unsigned nreg0 = pr->nreg;

	key = iscsi_get64(p);
	sakey = iscsi_get64(p + 8);
	aptpl = p[20] & 0x01;
	(void)aptpl;
	if (p[20] & 0x0c) { /* SPEC_I_PT, ALL_TG_PT: not supported */
		iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM);
		return false;
	}
	reg = pr_find(pr, me);
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->in_len = 0;
	switch (sa) {
	case 0: /* REGISTER */
	case 6: /* REGISTER AND IGNORE EXISTING KEY */
		if (!reg) {
			if (sa == 0 && key != 0) {
				cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
				break;
			}
			if (sakey == 0)
				break;
			if (pr->nreg == ISCSI_PR_MAX_REG) {
				iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST,
						 ASC_INSUFFICIENT_REG_RESOURCES);
				break;
			}
			reg = &pr->reg[pr->nreg++];
			nexus_copy(reg->nexus, me);
			reg->key = sakey;
			pr->generation++;
			break;
		}
		if (sa == 0 && key != reg->key) {
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			break;
		}
		pr->generation++;
		if (sakey != 0) {
			reg->key = sakey;
			if (pr->reserved && !pr_all_registrants(pr->type) &&
			    strcmp(pr->holder, me) == 0)
				pr->holder_key = sakey;
			break;
		}
		/* Unregister; the holder's reservation goes with it. */
		{
			bool holder = pr->reserved && strcmp(pr->holder, me) == 0;

			pr_remove_reg(pr, (unsigned)(reg - pr->reg));
			if (pr->reserved && pr_all_registrants(pr->type) && pr->nreg == 0)
				pr_release(pr);
			else if (holder && !pr_all_registrants(pr->type)) {
				if (pr->type == 5 || pr->type == 6)
					for (unsigned i = 0; i < pr->nreg; i++)
						pr_add_ua(pr, pr->reg[i].nexus,
							  ASC_RESERVATIONS_RELEASED);
				pr_release(pr);
			}
		}
		break;
	case 1: /* RESERVE */
		if (!reg || reg->key != key) {
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			break;
		}
		if (scope != 0 || !(type == 1 || type == 3 || (type >= 5 && type <= 8))) {
			iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
			break;
		}
		if (pr->reserved) {
			if (!pr_is_holder(pr, me) || pr->type != type)
				cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			break;
		}
		pr->reserved = true;
		pr->type = type;
		nexus_copy(pr->holder, me);
		pr->holder_key = key;
		break;
	case 2: /* RELEASE */
		if (!reg || reg->key != key) {
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			break;
		}
		if (!pr->reserved || !pr_is_holder(pr, me))
			break;
		if (pr->type != type || scope != 0) {
			/* INVALID RELEASE OF PERSISTENT RESERVATION */
			iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, 0x2604);
			break;
		}
		if (pr->type != 1 && pr->type != 3)
			for (unsigned i = 0; i < pr->nreg; i++)
				if (strcmp(pr->reg[i].nexus, me) != 0)
					pr_add_ua(pr, pr->reg[i].nexus, ASC_RESERVATIONS_RELEASED);
		pr_release(pr);
		break;
	case 3: /* CLEAR */
		if (!reg || reg->key != key) {
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			break;
		}
		for (unsigned i = 0; i < pr->nreg; i++)
			if (strcmp(pr->reg[i].nexus, me) != 0)
				pr_add_ua(pr, pr->reg[i].nexus, ASC_RESERVATIONS_PREEMPTED);
		pr->nreg = 0;
		pr_release(pr);
		pr->generation++;
		break;
	case 4: /* PREEMPT */
	case 5: /* PREEMPT AND ABORT (tasks of others are not aborted here) */
		if (!reg || reg->key != key) {
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			break;
		}
		if (pr->reserved && pr_all_registrants(pr->type) && sakey == 0) {
			/* Remove every other registration and take the reservation. */
			pr_preempt_others(pr, me, true, 0);
			pr_take(pr, me, key, type);
			break;
		}
		if (!pr->reserved || pr_all_registrants(pr->type) || sakey != pr->holder_key) {
			bool found = false;

			if (sakey == 0) {
				iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST,
						 ASC_INVALID_FIELD_IN_PARAM);
				break;
			}
			for (unsigned i = pr->nreg; i-- > 0;)
				if (pr->reg[i].key == sakey) {
					found = true;
					pr_add_ua(pr, pr->reg[i].nexus,
						  ASC_REGISTRATIONS_PREEMPTED);
					pr_remove_reg(pr, i);
				}
			if (!found) {
				cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
				break;
			}
			if (pr->reserved && !pr_find(pr, pr->holder) &&
			    !pr_all_registrants(pr->type))
				pr_release(pr);
			pr->generation++;
			break;
		}
		/* The holder is preempted: its registrations go, we hold. */
		pr_preempt_others(pr, me, false, sakey);
		pr_take(pr, me, key, type);
		break;
	default:
		iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		break;
	}
	pr_update_active(pr);
	return pr->generation != gen0 || pr->reserved != res0 || pr->type != type0 ||
	       pr->nreg != nreg0 || (pr->reserved && strcmp(pr->holder, me) == 0);
}

static int
pr_out(struct iscsi_scmd *cmd)
{
	struct iscsi_pr *pr = &cmd->lun->pr;

	/* Shared through the cluster: the store thread applies it. */
	if (cmd->lun->pr_store)
		return iscsi_pr_store_submit(cmd);
	pthread_mutex_lock(&pr->lock);
	iscsi_pr_out_apply(pr, cmd);
	pthread_mutex_unlock(&pr->lock);
	return 1;
}

static int
reserve6(struct iscsi_scmd *cmd, bool reserve)
{
	struct iscsi_pr *pr = &cmd->lun->pr;
	const char *me = cmd->nexus->id;

	pthread_mutex_lock(&pr->lock);
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->in_len = 0;
	if (reserve) {
		if (pr->reserved || (pr->reserve6[0] && strcmp(pr->reserve6, me) != 0))
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
		else
			nexus_copy(pr->reserve6, me);
	} else if (strcmp(pr->reserve6, me) == 0) {
		pr->reserve6[0] = 0;
	}
	pr_update_active(pr);
	pthread_mutex_unlock(&pr->lock);
	return 1;
}

/* ---------------------------------------------------------------- tables */

struct op_desc {
	uint8_t op;
	uint16_t sa;
	bool has_sa;
	uint8_t cdb_len;
	uint8_t usage[16];
};

/* Every command we serve, with the CDB bits we look at (REPORT SUPPORTED OPCODES). */
static const struct op_desc op_table[] = {
	{0x00, 0, false, 6, {0x00, 0x00, 0x00, 0x00, 0x00, 0x07}},
	{0x03, 0, false, 6, {0x03, 0x01, 0x00, 0x00, 0xff, 0x07}},
	{0x08, 0, false, 6, {0x08, 0x1f, 0xff, 0xff, 0xff, 0x07}},
	{0x0a, 0, false, 6, {0x0a, 0x1f, 0xff, 0xff, 0xff, 0x07}},
	{0x12, 0, false, 6, {0x12, 0x01, 0xff, 0xff, 0xff, 0x07}},
	{0x15, 0, false, 6, {0x15, 0x11, 0x00, 0x00, 0xff, 0x07}},
	{0x16, 0, false, 6, {0x16, 0x00, 0x00, 0x00, 0x00, 0x07}},
	{0x17, 0, false, 6, {0x17, 0x00, 0x00, 0x00, 0x00, 0x07}},
	{0x1a, 0, false, 6, {0x1a, 0x08, 0xff, 0xff, 0xff, 0x07}},
	{0x1b, 0, false, 6, {0x1b, 0x01, 0x00, 0x0f, 0xf7, 0x07}},
	{0x1e, 0, false, 6, {0x1e, 0x00, 0x00, 0x00, 0x03, 0x07}},
	{0x25, 0, false, 10, {0x25, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x07}},
	{0x28, 0, false, 10, {0x28, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x2a, 0, false, 10, {0x2a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x2e, 0, false, 10, {0x2e, 0xf2, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x2f, 0, false, 10, {0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x34, 0, false, 10, {0x34, 0x02, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x35, 0, false, 10, {0x35, 0x02, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x41, 0, false, 10, {0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07}},
	{0x42, 0, false, 10, {0x42, 0x01, 0x00, 0x00, 0x00, 0x00, 0x3f, 0xff, 0xff, 0x07}},
	{0x55, 0, false, 10, {0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x07}},
	{0x5a, 0, false, 10, {0x5a, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0x07}},
	{0x5e, 0, true, 10, {0x5e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x07}},
	{0x5e, 1, true, 10, {0x5e, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x07}},
	{0x5e, 2, true, 10, {0x5e, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x07}},
	{0x5e, 3, true, 10, {0x5e, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x07}},
	{0x5f, 0, true, 10, {0x5f, 0x00, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x5f, 1, true, 10, {0x5f, 0x01, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x5f, 2, true, 10, {0x5f, 0x02, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x5f, 3, true, 10, {0x5f, 0x03, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x5f, 4, true, 10, {0x5f, 0x04, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x5f, 5, true, 10, {0x5f, 0x05, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x5f, 6, true, 10, {0x5f, 0x06, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x07}},
	{0x88, 0, false, 16, {0x88, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x89, 0, false, 16, {0x89, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
			      0x00, 0x00, 0xff, 0x3f, 0x07}},
	{0x8a, 0, false, 16, {0x8a, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x8e, 0, false, 16, {0x8e, 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x8f, 0, false, 16, {0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x90, 0, false, 16, {0x90, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x91, 0, false, 16, {0x91, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x93, 0, false, 16, {0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			      0xff, 0xff, 0xff, 0x3f, 0x07}},
	{0x9e, 0x10, true, 16, {0x9e, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0x00, 0x07}},
	{0xa0, 0, false, 12, {0xa0, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00,
			      0x07}},
	{0xa3, 0x0a, true, 12, {0xa3, 0x0a, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00,
				0x07}},
	{0xa3, 0x0c, true, 12, {0xa3, 0x0c, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
				0x07}},
	{0xa8, 0, false, 12, {0xa8, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
			      0x07}},
	{0xaa, 0, false, 12, {0xaa, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
			      0x07}},
	{0xae, 0, false, 12, {0xae, 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
			      0x07}},
	{0xaf, 0, false, 12, {0xaf, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
			      0x07}},
};

#define N_OPS (sizeof(op_table) / sizeof(op_table[0]))

static bool
op_has_sa(uint8_t op)
{
	return op == 0x5e || op == 0x5f || op == 0x9e || op == 0xa3;
}

static uint32_t
timeout_desc(uint8_t *p)
{
	iscsi_put16(p, 0x0a);
	iscsi_put32(p + 4, 30); /* nominal: seconds */
	iscsi_put32(p + 8, 60); /* recommended */
	return 12;
}

static int
report_opcodes(struct iscsi_scmd *cmd)
{
	uint8_t opts = cmd->cdb[2] & 0x07;
	bool rctd = (cmd->cdb[2] & 0x80) != 0;
	uint8_t rop = cmd->cdb[3];
	uint16_t rsa = iscsi_get16(cmd->cdb + 4);
	uint32_t alloc = iscsi_get32(cmd->cdb + 6);
	uint8_t *b = cmd->buf;
	uint32_t len = 0;

	memset(b, 0, 8192);
	if (opts == 0) {
		len = 4;
		for (size_t i = 0; i < N_OPS; i++) {
			const struct op_desc *d = &op_table[i];

			b[len] = d->op;
			iscsi_put16(b + len + 2, d->sa);
			b[len + 5] = (uint8_t)((rctd ? 0x02 : 0) | (d->has_sa ? 0x01 : 0));
			iscsi_put16(b + len + 6, d->cdb_len);
			len += 8;
			if (rctd)
				len += timeout_desc(b + len);
		}
		iscsi_put32(b, len - 4);
	} else if (opts <= 3) {
		const struct op_desc *d = NULL;
		bool sa_cmd = op_has_sa(rop);

		if ((opts == 1 && sa_cmd) || (opts == 2 && !sa_cmd))
			return bad_cdb_at(cmd, 2); /* the REPORTING OPTIONS field */
		for (size_t i = 0; i < N_OPS; i++)
			if (op_table[i].op == rop && (!sa_cmd || op_table[i].sa == rsa))
				d = &op_table[i];
		if (!d) {
			b[1] = 0x01; /* not supported */
			len = 4;
		} else {
			b[1] = (uint8_t)((rctd ? 0x80 : 0) | 0x03);
			iscsi_put16(b + 2, d->cdb_len);
			memcpy(b + 4, d->usage, d->cdb_len);
			len = 4 + d->cdb_len;
			if (rctd)
				len += timeout_desc(b + len);
		}
	} else {
		return bad_cdb_at(cmd, 2);
	}
	return good(cmd, len < alloc ? len : alloc);
}

/*
 * REPORT TARGET PORT GROUPS: this gateway is one group (its --tpgt) with one
 * port, active/optimized. Every gateway of a multipath set reaches the same
 * OSDs, so every path is as good as any other.
 */
/* Every gateway's group id (--alua-groups), the same list on each gateway. */
static uint16_t tpg_ids[ISCSI_MAX_TPGS];
static unsigned n_tpg_ids;

void
iscsi_scsi_set_tpgs(const uint16_t *ids, unsigned n)
{
	n_tpg_ids = n < ISCSI_MAX_TPGS ? n : ISCSI_MAX_TPGS;
	memcpy(tpg_ids, ids, n_tpg_ids * sizeof(ids[0]));
}

static int
report_tpgs(struct iscsi_scmd *cmd)
{
	uint32_t alloc = iscsi_get32(cmd->cdb + 6);
	bool extended = ((cmd->cdb[1] >> 5) & 0x07) == 1;
	uint16_t own = cmd->nexus ? cmd->nexus->rel_port_id : 1;
	uint8_t *b = cmd->buf;
	uint32_t off = extended ? 8 : 4;
	bool own_listed = false;

	memset(b, 0, 8 + 12 * (ISCSI_MAX_TPGS + 1));
	if (extended) {
		b[4] = 0x10; /* format: extended header */
		b[5] = 0;    /* implicit transition time */
	}
	for (unsigned i = 0; i <= n_tpg_ids; i++) {
		uint16_t id = i < n_tpg_ids ? tpg_ids[i] : own;

		if (i == n_tpg_ids && own_listed)
			break;
		own_listed |= id == own;
		/* PREF, active/optimized: every gateway reaches the same OSDs. */
		b[off] = 0x80 | 0x00;
		b[off + 1] = 0x01; /* AO_SUP */
		iscsi_put16(b + off + 2, id);
		b[off + 7] = 1; /* one target port per gateway: relative port = group id */
		iscsi_put16(b + off + 10, id);
		off += 12;
	}
	iscsi_put32(b, off - 4);
	return good(cmd, off < alloc ? off : alloc);
}

/* ----------------------------------------------------------------- INQUIRY */

static void
put_naa(uint8_t *p, uint64_t volume_id)
{
	/*
	 * NAA 6 (IEEE registered extended): 4-bit NAA, 24-bit OUI, 36-bit
	 * vendor-specific id, 64-bit extension. The OUI is a locally
	 * administered placeholder; the volume id makes it unique and equal on
	 * every gateway that exports the volume (multipath needs that).
	 */
	const uint32_t oui = 0x0a5e55; /* "TESSera" */

	p[0] = (uint8_t)(0x60 | ((oui >> 20) & 0x0f));
	p[1] = (uint8_t)(oui >> 12);
	p[2] = (uint8_t)(oui >> 4);
	p[3] = (uint8_t)((oui & 0x0f) << 4);
	/* 36-bit vendor-specific: "TSR" tag */
	p[4] = 0x54;
	p[5] = 0x53;
	p[6] = 0x52;
	p[7] = 0x00;
	iscsi_put64(p + 8, volume_id);
}

static int
inquiry(struct iscsi_scmd *cmd)
{
	bool evpd = cmd->cdb[1] & 0x01;
	uint8_t page = cmd->cdb[2];
	uint32_t alloc = iscsi_get16(cmd->cdb + 3);
	uint8_t *b = cmd->buf;
	uint32_t len;
	struct iscsi_lun *lun = cmd->lun;
	uint8_t pq = lun ? 0x00 : 0x7f;

	if (cmd->cdb[1] & 0x02) /* CMDDT: obsolete */
		return bad_cdb(cmd);
	if (!evpd && page != 0)
		return bad_cdb(cmd);
	memset(b, 0, 512);
	if (!evpd) {
		static const uint16_t versions[] = {0x00a0 /* SAM-5 */, 0x0960 /* iSCSI */,
						    0x0460 /* SPC-4 */, 0x04c0 /* SBC-3 */};

		b[0] = pq;
		b[2] = 0x06;        /* SPC-4 */
		b[3] = 0x10 | 0x02; /* HISUP, response data format 2 */
		b[4] = 96 - 5;
		b[5] = 0x10;        /* TPGS: implicit ALUA */
		b[7] = 0x02;        /* CMDQUE */
		memcpy(b + 8, "TESSERA ", 8);
		memcpy(b + 16, "VOLUME          ", 16);
		memcpy(b + 32, "0001", 4);
		for (unsigned i = 0; i < 4; i++)
			iscsi_put16(b + 58 + 2 * i, versions[i]);
		len = 96;
		return good(cmd, len < alloc ? len : alloc);
	}
	if (!lun)
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);
	b[0] = pq;
	b[1] = page;
	switch (page) {
	case 0x00: {
		static const uint8_t pages[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2};

		memcpy(b + 4, pages, sizeof(pages));
		len = 4 + sizeof(pages);
		break;
	}
	case 0x80: {
		int n = snprintf((char *)b + 4, 64, "%016llx",
				 (unsigned long long)lun->volume_id);

		len = 4 + (uint32_t)n;
		break;
	}
	case 0x83: {
		uint32_t off = 4;
		size_t nl = strlen(lun->volume);

		/* NAA, logical unit */
		b[off] = 0x01;
		b[off + 1] = 0x03;
		b[off + 3] = 16;
		put_naa(b + off + 4, lun->volume_id);
		off += 20;
		/* T10 vendor id, logical unit: "TESSERA " + volume name */
		if (nl > 64)
			nl = 64;
		b[off] = 0x02;
		b[off + 1] = 0x01;
		b[off + 3] = (uint8_t)(8 + nl);
		memcpy(b + off + 4, "TESSERA ", 8);
		memcpy(b + off + 12, lun->volume, nl);
		off += 4 + 8 + (uint32_t)nl;
		/* relative target port */
		b[off] = 0x51;
		b[off + 1] = 0x94;
		b[off + 3] = 4;
		iscsi_put16(b + off + 6, cmd->nexus ? cmd->nexus->rel_port_id : 1);
		off += 8;
		/* target port group: one group per gateway, id = port id */
		b[off] = 0x51;
		b[off + 1] = 0x95;
		b[off + 3] = 4;
		iscsi_put16(b + off + 6, cmd->nexus ? cmd->nexus->rel_port_id : 1);
		off += 8;
		len = off;
		break;
	}
	case 0xb0:
		b[4] = 0; /* WSNZ = 0: WRITE SAME with 0 blocks means to the end */
		b[5] = MAX_CAW_BLOCKS;
		iscsi_put16(b + 6, 1);
		iscsi_put32(b + 8, cmd->max_io / ISCSI_BLOCK_SIZE);
		iscsi_put32(b + 12, cmd->max_io / ISCSI_BLOCK_SIZE);
		iscsi_put32(b + 20, MAX_UNMAP_BLOCKS);
		iscsi_put32(b + 24, MAX_UNMAP_DESCRIPTORS);
		iscsi_put32(b + 28, 1);
		iscsi_put64(b + 36, 0); /* maximum WRITE SAME length: not reported */
		len = 64;
		break;
	case 0xb1:
		iscsi_put16(b + 4, 1); /* non-rotating medium */
		len = 64;
		break;
	case 0xb2:
		b[5] = 0x80 | 0x40 | 0x20 | 0x04 | 0x02; /* LBPU LBPWS LBPWS10 LBPRZ=1 ANC_SUP */
		b[6] = 0x02;                             /* thin provisioned */
		len = 8;
		break;
	default:
		return bad_cdb(cmd);
	}
	iscsi_put16(b + 2, (uint16_t)(len - 4));
	return good(cmd, len < alloc ? len : alloc);
}

/* -------------------------------------------------------------- mode pages */

static uint32_t
mode_page(struct iscsi_scmd *cmd, uint8_t page, uint8_t pc, uint8_t *p)
{
	bool changeable = pc == 1;

	switch (page) {
	case 0x08: /* caching: writes are durable on completion, no write cache */
		memset(p, 0, 20);
		p[0] = 0x08;
		p[1] = 0x12;
		return 20;
	case 0x0a: /* control */
		memset(p, 0, 12);
		p[0] = 0x0a;
		p[1] = 0x0a;
		if (changeable) {
			p[2] = 0x04; /* D_SENSE */
			return 12;
		}
		p[2] = cmd->nexus && cmd->nexus->d_sense ? 0x04 : 0;
		p[3] = 0x10; /* queue algorithm: unrestricted reordering */
		iscsi_put16(p + 8, 0xffff);
		return 12;
	case 0x1c: /* informational exceptions control */
		memset(p, 0, 12);
		p[0] = 0x1c;
		p[1] = 0x0a;
		return 12;
	default:
		return 0;
	}
}

static int
mode_sense(struct iscsi_scmd *cmd, bool ten)
{
	uint8_t *b = cmd->buf;
	bool dbd = cmd->cdb[1] & 0x08;
	bool llbaa = ten && (cmd->cdb[1] & 0x10);
	uint8_t pc = cmd->cdb[2] >> 6, page = cmd->cdb[2] & 0x3f, sub = cmd->cdb[3];
	uint32_t alloc = ten ? iscsi_get16(cmd->cdb + 7) : cmd->cdb[4];
	uint32_t hdr = ten ? 8 : 4, off;
	uint64_t blocks = cmd->lun->ops->size_bytes(cmd->lun->be) / ISCSI_BLOCK_SIZE;

	if (pc == 3)
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_SAVING_PARAMS_UNSUPPORTED);
	if (sub != 0 && !(sub == 0xff && page == 0x3f))
		return bad_cdb(cmd);
	memset(b, 0, 1024);
	off = hdr;
	if (!dbd) {
		if (llbaa) {
			iscsi_put64(b + off, blocks);
			iscsi_put32(b + off + 12, ISCSI_BLOCK_SIZE);
			off += 16;
		} else {
			iscsi_put32(b + off, blocks > 0xffffffffull ? 0xffffffffu : (uint32_t)blocks);
			iscsi_put24(b + off + 5, ISCSI_BLOCK_SIZE);
			off += 8;
		}
	}
	if (page == 0x3f) {
		off += mode_page(cmd, 0x08, pc, b + off);
		off += mode_page(cmd, 0x0a, pc, b + off);
		off += mode_page(cmd, 0x1c, pc, b + off);
	} else {
		uint32_t n = mode_page(cmd, page, pc, b + off);

		if (n == 0)
			return bad_cdb(cmd);
		off += n;
	}
	if (ten) {
		iscsi_put16(b, (uint16_t)(off - 2));
		b[3] = 0x10; /* DPOFUA */
		if (llbaa && !dbd)
			b[4] = 0x01;
		iscsi_put16(b + 6, dbd ? 0 : (llbaa ? 16 : 8));
	} else {
		b[0] = (uint8_t)(off - 1);
		b[2] = 0x10;
		b[3] = dbd ? 0 : 8;
	}
	return good(cmd, off < alloc ? off : alloc);
}

static int
mode_select(struct iscsi_scmd *cmd, bool ten)
{
	const uint8_t *p = cmd->buf;
	uint32_t len = cmd->out_len, off, bdl;
	bool d_sense;

	if (cmd->cdb[1] & 0x01) /* SP: we cannot save */
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (len == 0)
		return good(cmd, 0);
	if (len < (ten ? 8u : 4u))
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH_ERROR);
	bdl = ten ? iscsi_get16(p + 6) : p[3];
	off = (ten ? 8 : 4) + bdl;
	d_sense = cmd->nexus ? cmd->nexus->d_sense : false;
	while (off < len) {
		uint8_t page = p[off] & 0x3f;
		uint32_t plen;

		if (off + 2 > len)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH_ERROR);
		if (p[off] & 0x40) /* sub-page format: none supported */
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM);
		plen = 2u + p[off + 1];
		if (off + plen > len)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH_ERROR);
		if (page == 0x0a && plen >= 3)
			d_sense = (p[off + 2] & 0x04) != 0;
		else if (page != 0x08 && page != 0x1c)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM);
		off += plen;
	}
	if (cmd->nexus)
		cmd->nexus->d_sense = d_sense;
	return good(cmd, 0);
}

/* ------------------------------------------------------------ capacity etc */

static uint64_t
lun_blocks(struct iscsi_scmd *cmd)
{
	return cmd->lun->ops->size_bytes(cmd->lun->be) / ISCSI_BLOCK_SIZE;
}

static int
read_capacity(struct iscsi_scmd *cmd, bool sixteen)
{
	uint8_t *b = cmd->buf;
	uint64_t blocks = lun_blocks(cmd);
	uint64_t last = blocks ? blocks - 1 : 0;

	memset(b, 0, 32);
	if (!sixteen) {
		iscsi_put32(b, last > 0xffffffffull ? 0xffffffffu : (uint32_t)last);
		iscsi_put32(b + 4, ISCSI_BLOCK_SIZE);
		return good(cmd, 8);
	}
	{
		uint32_t alloc = iscsi_get32(cmd->cdb + 10);

		iscsi_put64(b, last);
		iscsi_put32(b + 8, ISCSI_BLOCK_SIZE);
		b[14] = 0x80 | 0x40; /* LBPME, LBPRZ */
		return good(cmd, alloc < 32 ? alloc : 32);
	}
}

static int
report_luns(struct iscsi_scmd *cmd)
{
	uint32_t alloc = iscsi_get32(cmd->cdb + 6);
	uint8_t *b = cmd->buf;
	uint32_t n = 0;

	if (alloc < 16)
		return bad_cdb(cmd);
	if (cmd->cdb[2] > 2 && cmd->cdb[2] != 0x10 && cmd->cdb[2] != 0x11 &&
	    cmd->cdb[2] != 0x12)
		return bad_cdb(cmd);
	memset(b, 0, 8 + 8 * ISCSI_MAX_LUNS);
	for (unsigned i = 0; i < cmd->nluns && i < ISCSI_MAX_LUNS; i++) {
		if (!cmd->luns[i])
			continue;
		iscsi_put64(b + 8 + 8 * n, iscsi_lun_encode(cmd->luns[i]->lun));
		n++;
	}
	iscsi_put32(b, 8 * n);
	return good(cmd, 8 + 8 * n < alloc ? 8 + 8 * n : alloc);
}

static int
request_sense(struct iscsi_scmd *cmd)
{
	bool desc = cmd->cdb[1] & 0x01;
	uint32_t alloc = cmd->cdb[4];
	uint16_t asc = 0;
	uint8_t key = SK_NO_SENSE;
	bool saved;
	struct iscsi_scmd tmp;

	if (!cmd->lun) {
		key = SK_ILLEGAL_REQUEST;
		asc = ASC_LUN_NOT_SUPPORTED;
	} else if (cmd->nexus && cmd->nexus->pending_ua[cmd->lun_slot]) {
		key = SK_UNIT_ATTENTION;
		asc = cmd->nexus->pending_ua[cmd->lun_slot];
		cmd->nexus->pending_ua[cmd->lun_slot] = 0;
	}
	/* Build the sense in the requested format into the data buffer. */
	memset(&tmp, 0, sizeof(tmp));
	tmp.nexus = cmd->nexus;
	saved = cmd->nexus ? cmd->nexus->d_sense : false;
	if (cmd->nexus)
		cmd->nexus->d_sense = desc;
	iscsi_scsi_sense(&tmp, key, asc);
	if (cmd->nexus)
		cmd->nexus->d_sense = saved;
	memcpy(cmd->buf, tmp.sense, tmp.sense_len);
	return good(cmd, tmp.sense_len < alloc ? tmp.sense_len : alloc);
}

/* -------------------------------------------------------------- block I/O */

static void io_done(void *arg, ssize_t result);

static int
submit_rc(struct iscsi_scmd *cmd, int rc, int (*resume)(struct iscsi_scmd *), bool write)
{
	if (rc == 0)
		return 0;
	if (rc == -EAGAIN) {
		park(cmd, resume);
		return 0;
	}
	sense_from_errno(cmd, rc, write);
	return 1;
}

static int do_read(struct iscsi_scmd *cmd);
static int do_write(struct iscsi_scmd *cmd);

/* cmd->nblocks at cmd->lba between the backend and cmd->buf. */
static int
do_rw(struct iscsi_scmd *cmd, bool write)
{
	struct iscsi_lun *l = cmd->lun;
	uint64_t off = cmd->lba * ISCSI_BLOCK_SIZE;
	size_t len = (size_t)cmd->nblocks * ISCSI_BLOCK_SIZE;
	int rc;

	if (write)
		rc = l->ops->write(l->be, cmd->ioq, off, len, cmd->buf, io_done, cmd);
	else
		rc = l->ops->read(l->be, cmd->ioq, off, len, cmd->buf, io_done, cmd);
	return submit_rc(cmd, rc, write ? do_write : do_read, write);
}

static int
do_read(struct iscsi_scmd *cmd)
{
	return do_rw(cmd, false);
}

static int
do_write(struct iscsi_scmd *cmd)
{
	return do_rw(cmd, true);
}

static int
do_flush(struct iscsi_scmd *cmd)
{
	struct iscsi_lun *l = cmd->lun;
	int rc = l->ops->flush(l->be, cmd->ioq, io_done, cmd);

	return submit_rc(cmd, rc, do_flush, true);
}

static int
do_caw(struct iscsi_scmd *cmd)
{
	struct iscsi_lun *l = cmd->lun;
	size_t len = (size_t)cmd->nblocks * ISCSI_BLOCK_SIZE;
	int rc = l->ops->compare_and_write(l->be, cmd->ioq, cmd->lba * ISCSI_BLOCK_SIZE, len,
					   cmd->buf, cmd->buf + len, &cmd->mismatch_off, io_done,
					   cmd);

	return submit_rc(cmd, rc, do_caw, true);
}

/* WRITE SAME / UNMAP chunks: pos..end in blocks. step 0: zeroes/discard, 1: data */
static int
do_range_step(struct iscsi_scmd *cmd)
{
	struct iscsi_lun *l = cmd->lun;
	uint64_t n = cmd->end - cmd->pos;
	uint64_t off = cmd->pos * ISCSI_BLOCK_SIZE;
	int rc;

	switch (cmd->step) {
	case 0: /* discard */
		if (n > ZERO_CHUNK_BLOCKS)
			n = ZERO_CHUNK_BLOCKS;
		rc = l->ops->discard(l->be, cmd->ioq, off, n * ISCSI_BLOCK_SIZE, io_done, cmd);
		break;
	case 1: /* write zeroes */
		if (n > ZERO_CHUNK_BLOCKS)
			n = ZERO_CHUNK_BLOCKS;
		rc = l->ops->write_zeroes(l->be, cmd->ioq, off, n * ISCSI_BLOCK_SIZE, io_done,
					  cmd);
		break;
	default: /* pattern: buf holds max_io bytes of copies of the block */
		if (n > cmd->max_io / ISCSI_BLOCK_SIZE)
			n = cmd->max_io / ISCSI_BLOCK_SIZE;
		rc = l->ops->write(l->be, cmd->ioq, off, n * ISCSI_BLOCK_SIZE, cmd->buf, io_done,
				   cmd);
		break;
	}
	if (rc == 0)
		cmd->nblocks = (uint32_t)n; /* the chunk in flight */
	return submit_rc(cmd, rc, do_range_step, true);
}

/* UNMAP: descriptor index in cmd->pos of the parameter list. */
static int do_unmap_next(struct iscsi_scmd *cmd);

/* VERIFY with BYTCHK: read into the second half of buf, then compare. */
static int
do_verify_read(struct iscsi_scmd *cmd)
{
	struct iscsi_lun *l = cmd->lun;
	int rc = l->ops->read(l->be, cmd->ioq, cmd->lba * ISCSI_BLOCK_SIZE,
			      (size_t)cmd->nblocks * ISCSI_BLOCK_SIZE, cmd->buf + cmd->max_io,
			      io_done, cmd);

	return submit_rc(cmd, rc, do_verify_read, false);
}

enum io_kind {
	IO_READ = 1,
	IO_WRITE,
	IO_FLUSH,
	IO_CAW,
	IO_RANGE,
	IO_UNMAP,
	IO_VERIFY,
};

static void
io_done(void *arg, ssize_t result)
{
	struct iscsi_scmd *cmd = arg;
	int rc;

	switch ((enum io_kind)(cmd->state >> 8)) {
	case IO_READ:
		if (result < 0)
			sense_from_errno(cmd, result, false);
		else
			good(cmd, cmd->nblocks * ISCSI_BLOCK_SIZE);
		break;
	case IO_WRITE:
	case IO_FLUSH:
		if (result < 0)
			sense_from_errno(cmd, result, true);
		else
			good(cmd, 0);
		break;
	case IO_CAW:
		if (result == -EILSEQ) {
			uint64_t base = cmd->lba * ISCSI_BLOCK_SIZE;
			uint64_t at = cmd->mismatch_off >= base ? cmd->mismatch_off - base : 0;

			sense_info(cmd, SK_MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY, at);
		} else if (result < 0) {
			sense_from_errno(cmd, result, true);
		} else {
			good(cmd, 0);
		}
		break;
	case IO_RANGE:
		if (result < 0) {
			sense_from_errno(cmd, result, true);
			break;
		}
		cmd->pos += cmd->nblocks;
		if (cmd->pos < cmd->end) {
			rc = do_range_step(cmd);
			if (rc == 0)
				return;
			break;
		}
		good(cmd, 0);
		break;
	case IO_UNMAP:
		if (result < 0) {
			sense_from_errno(cmd, result, true);
			break;
		}
		cmd->pos++;
		rc = do_unmap_next(cmd);
		if (rc == 0)
			return;
		break;
	case IO_VERIFY:
		if (result < 0) {
			sense_from_errno(cmd, result, false);
			break;
		}
		{
			uint32_t len = cmd->nblocks * ISCSI_BLOCK_SIZE;
			const uint8_t *a = cmd->buf, *m = cmd->buf + cmd->max_io;
			bool one_block = cmd->step == 3;

			for (uint32_t i = 0; i < len; i++) {
				uint8_t want = one_block ? a[i % ISCSI_BLOCK_SIZE] : a[i];

				if (m[i] != want) {
					sense_info(cmd, SK_MISCOMPARE,
						   ASC_MISCOMPARE_DURING_VERIFY, i);
					goto out;
				}
			}
			good(cmd, 0);
		}
		break;
	}
out:
	cmd->done(cmd);
}

static void
set_kind(struct iscsi_scmd *cmd, enum io_kind k)
{
	cmd->state = SCMD_RUNNING | ((unsigned)k << 8);
}

static int
do_unmap_next(struct iscsi_scmd *cmd)
{
	const uint8_t *p = cmd->buf;
	uint32_t ndesc = (uint32_t)cmd->end;

	while (cmd->pos < ndesc) {
		const uint8_t *d = p + 8 + 16 * cmd->pos;
		uint64_t lba = iscsi_get64(d);
		uint32_t n = iscsi_get32(d + 8);
		struct iscsi_lun *l = cmd->lun;
		int rc;

		if (n == 0) {
			cmd->pos++;
			continue;
		}
		rc = l->ops->discard(l->be, cmd->ioq, lba * ISCSI_BLOCK_SIZE,
				     (uint64_t)n * ISCSI_BLOCK_SIZE, io_done, cmd);
		return submit_rc(cmd, rc, do_unmap_next, true);
	}
	return good(cmd, 0);
}

/* ------------------------------------------------------------ CDB decoding */

struct rw {
	uint64_t lba;
	uint32_t nblocks;
	uint8_t flags; /* byte 1 */
};

static void
decode_rw(const uint8_t *cdb, struct rw *rw)
{
	switch (cdb[0] >> 5) {
	case 0: /* 6-byte */
		rw->lba = iscsi_get24(cdb + 1) & 0x1fffff;
		rw->nblocks = cdb[4] ? cdb[4] : 256;
		rw->flags = 0;
		break;
	case 1: /* 10-byte */
	case 2:
		rw->lba = iscsi_get32(cdb + 2);
		rw->nblocks = iscsi_get16(cdb + 7);
		rw->flags = cdb[1];
		break;
	case 5: /* 12-byte */
		rw->lba = iscsi_get32(cdb + 2);
		rw->nblocks = iscsi_get32(cdb + 6);
		rw->flags = cdb[1];
		break;
	default: /* 16-byte */
		rw->lba = iscsi_get64(cdb + 2);
		rw->nblocks = iscsi_get32(cdb + 10);
		rw->flags = cdb[1];
		break;
	}
}

static bool
range_bad(struct iscsi_scmd *cmd, uint64_t lba, uint64_t n)
{
	uint64_t blocks = lun_blocks(cmd);

	return lba > blocks || n > blocks - lba;
}

/*
 * The checks of every READ, WRITE and VERIFY CDB: no protection information
 * (RD/WR/VRPROTECT), the range inside the LUN, at most max_blocks. Returns 0
 * with cmd->lba and cmd->nblocks set, or 1: cmd is finished with its sense.
 */
static int
rw_prepare(struct iscsi_scmd *cmd, const struct rw *rw, uint32_t max_blocks)
{
	if (rw->flags & 0xe0)
		return bad_cdb(cmd);
	if (range_bad(cmd, rw->lba, rw->nblocks))
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	if (rw->nblocks > max_blocks)
		return bad_cdb(cmd);
	cmd->lba = rw->lba;
	cmd->nblocks = rw->nblocks;
	return 0;
}

/* Classify for reservations. */
static enum access_class
access_of(uint8_t op)
{
	switch (op) {
	case 0x12: /* INQUIRY */
	case 0xa0: /* REPORT LUNS */
	case 0x03: /* REQUEST SENSE */
	case 0x5e: /* PR IN */
	case 0x5f: /* PR OUT */
	case 0xa3: /* MAINTENANCE IN */
	case 0x25: /* READ CAPACITY */
	case 0x9e:
	case 0x16: /* RESERVE(6) handles its own conflicts */
	case 0x17:
	case 0x00: /* TEST UNIT READY: conflicts only for RESERVE(6) */
		return ACC_NONE;
	case 0x08: case 0x28: case 0xa8: case 0x88:
	case 0x2f: case 0xaf: case 0x8f:
	case 0x34: case 0x90:
	case 0x1a: case 0x5a:
		return ACC_READ;
	default:
		return ACC_WRITE;
	}
}

static int
prepare(struct iscsi_scmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint8_t op = cdb[0];
	struct rw rw;
	uint16_t ua = 0;
	uint32_t max_blocks = cmd->max_io / ISCSI_BLOCK_SIZE;

	cmd->op = op;
	cmd->out_len = 0;
	cmd->in_len = 0;
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->state = SCMD_IDLE;
	cmd->step = 0;

	/* Commands that work without a LUN and never report a unit attention. */
	if (op == 0x12)
		return inquiry(cmd);
	if (op == 0xa0)
		return report_luns(cmd);
	if (op == 0x03)
		return request_sense(cmd);
	if (!cmd->lun)
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED);

	/* Unit attentions: capacity change, then reservation events. */
	if (cmd->nexus) {
		unsigned gen = atomic_load(&cmd->lun->size_gen);

		if (cmd->nexus->seen_size_gen[cmd->lun_slot] != gen) {
			cmd->nexus->seen_size_gen[cmd->lun_slot] = gen;
			return finish_sense(cmd, SK_UNIT_ATTENTION, ASC_CAPACITY_CHANGED);
		}
		gen = atomic_load(&cmd->lun->reset_gen);
		if (cmd->nexus->seen_reset_gen[cmd->lun_slot] != gen) {
			cmd->nexus->seen_reset_gen[cmd->lun_slot] = gen;
			return finish_sense(cmd, SK_UNIT_ATTENTION, ASC_BUS_DEVICE_RESET);
		}
		if (cmd->nexus->pending_ua[cmd->lun_slot]) {
			uint16_t a = cmd->nexus->pending_ua[cmd->lun_slot];

			cmd->nexus->pending_ua[cmd->lun_slot] = 0;
			return finish_sense(cmd, SK_UNIT_ATTENTION, a);
		}
		if (pr_conflicts(cmd, access_of(op), &ua)) {
			if (ua)
				return finish_sense(cmd, SK_UNIT_ATTENTION, ua);
			cmd->status = SCSI_STATUS_RESERVATION_CONFLICT;
			return 1;
		}
		if (ua)
			return finish_sense(cmd, SK_UNIT_ATTENTION, ua);
	}

	switch (op) {
	case 0x00: /* TEST UNIT READY */
	case 0x1b: /* START STOP UNIT */
		return good(cmd, 0);
	case 0x1e: /* PREVENT ALLOW MEDIUM REMOVAL */
		if ((cdb[4] & 0x03) == 0)
			return good(cmd, 0);
		/* Not removable: prevention is not supported. */
		return bad_cdb(cmd);
	case 0x25:
		if (cdb[8] & 0x01) /* PMI: obsolete */
			return bad_cdb(cmd);
		return read_capacity(cmd, false);
	case 0x9e:
		if ((cdb[1] & 0x1f) != 0x10)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
		return read_capacity(cmd, true);
	case 0x1a:
		return mode_sense(cmd, false);
	case 0x5a:
		return mode_sense(cmd, true);
	case 0x15:
		cmd->out_len = cdb[4];
		return 0;
	case 0x55:
		cmd->out_len = iscsi_get16(cdb + 7);
		if (cmd->out_len > 4096)
			return bad_cdb(cmd);
		return 0;
	case 0xa3:
		if ((cdb[1] & 0x1f) == 0x0c)
			return report_opcodes(cmd);
		if ((cdb[1] & 0x1f) == 0x0a)
			return report_tpgs(cmd);
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	case 0x5e:
		return pr_in(cmd);
	case 0x5f: {
		uint32_t plen = iscsi_get32(cdb + 5);

		if ((cdb[1] & 0x1f) > 6)
			return bad_cdb(cmd);
		if (plen != 24)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH_ERROR);
		cmd->out_len = plen;
		return 0;
	}
	case 0x16:
		return reserve6(cmd, true);
	case 0x17:
		return reserve6(cmd, false);

	case 0x08: case 0x28: case 0xa8: case 0x88: /* READ */
	case 0x0a: case 0x2a: case 0xaa: case 0x8a: /* WRITE */
	case 0x2e: case 0xae: case 0x8e:             /* WRITE AND VERIFY */
		decode_rw(cdb, &rw);
		if (rw_prepare(cmd, &rw, max_blocks))
			return 1;
		if (op == 0x08 || op == 0x28 || op == 0xa8 || op == 0x88)
			return rw.nblocks ? 0 : good(cmd, 0);
		cmd->out_len = rw.nblocks * ISCSI_BLOCK_SIZE;
		return rw.nblocks ? 0 : good(cmd, 0);

	case 0x2f: case 0xaf: case 0x8f: { /* VERIFY */
		uint8_t bytchk = (cdb[1] >> 1) & 0x03;

		if (bytchk == 2)
			return bad_cdb(cmd);
		decode_rw(cdb, &rw);
		if (rw_prepare(cmd, &rw, max_blocks))
			return 1;
		cmd->step = bytchk;
		if (rw.nblocks == 0 || bytchk == 0)
			return good(cmd, 0); /* medium verify: the store checksums every block */
		cmd->out_len = bytchk == 3 ? ISCSI_BLOCK_SIZE : rw.nblocks * ISCSI_BLOCK_SIZE;
		return 0;
	}
	case 0x34: case 0x90: /* PRE-FETCH */
	case 0x35: case 0x91: /* SYNCHRONIZE CACHE */
		/* LBA and block count where READ(10)/READ(16) have them. */
		decode_rw(cdb, &rw);
		if (range_bad(cmd, rw.lba, rw.nblocks))
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		if (op == 0x35 || op == 0x91)
			return 0;
		/* PRE-FETCH: CONDITION MET would say the data fits in cache; we have none. */
		return good(cmd, 0);
	case 0x41: case 0x93: { /* WRITE SAME */
		bool ndob = op == 0x93 && (cdb[1] & 0x01);

		if (op == 0x41) {
			rw.lba = iscsi_get32(cdb + 2);
			rw.nblocks = iscsi_get16(cdb + 7);
		} else {
			rw.lba = iscsi_get64(cdb + 2);
			rw.nblocks = iscsi_get32(cdb + 10);
		}
		if (cdb[1] & 0xe0)
			return bad_cdb(cmd);
		if ((cdb[1] & 0x10) && !(cdb[1] & 0x08)) /* ANCHOR needs UNMAP */
			return bad_cdb(cmd);
		if (range_bad(cmd, rw.lba, rw.nblocks))
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		cmd->lba = rw.lba;
		cmd->pos = rw.lba;
		cmd->end = rw.nblocks ? rw.lba + rw.nblocks : lun_blocks(cmd);
		cmd->step = (cdb[1] & 0x08) ? 0 : 1; /* UNMAP bit */
		if (ndob) {
			cmd->out_len = 0;
			return 0;
		}
		cmd->out_len = ISCSI_BLOCK_SIZE;
		return 0;
	}
	case 0x42: { /* UNMAP */
		uint32_t plen = iscsi_get16(cdb + 7);

		if (cdb[1] & 0x01) /* ANCHOR */
			return bad_cdb(cmd);
		if (plen == 0)
			return good(cmd, 0);
		if (plen < 8)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH_ERROR);
		if (plen > 8 + 16 * MAX_UNMAP_DESCRIPTORS)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM);
		cmd->out_len = plen;
		return 0;
	}
	case 0x89: { /* COMPARE AND WRITE */
		uint64_t lba = iscsi_get64(cdb + 2);
		uint32_t n = cdb[13];

		if (cdb[1] & 0xe0)
			return bad_cdb(cmd);
		if (n > MAX_CAW_BLOCKS)
			return bad_cdb(cmd);
		if (range_bad(cmd, lba, n))
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
		if (n == 0)
			return cmd->edtl ? bad_cdb(cmd) : good(cmd, 0);
		cmd->lba = lba;
		cmd->nblocks = n;
		cmd->out_len = 2 * n * ISCSI_BLOCK_SIZE;
		return 0;
	}
	default:
		return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
	}
}

static bool
is_write(uint8_t op)
{
	return op == 0x0a || op == 0x2a || op == 0xaa || op == 0x8a || op == 0x2e ||
	       op == 0xae || op == 0x8e;
}

int
iscsi_scsi_prepare(struct iscsi_scmd *cmd)
{
	int rc = prepare(cmd);

	if (rc != 0 || cmd->out_len == 0)
		return rc;
	/*
	 * A WRITE whose expected transfer length differs from the CDB's moves
	 * min(EDTL, CDB) bytes (the transport reports the residual). Other
	 * commands with Data-Out need it whole: COMPARE AND WRITE and WRITE
	 * SAME exactly, parameter lists at least.
	 */
	if (is_write(cmd->op))
		return 0;
	if (cmd->edtl < cmd->out_len || ((cmd->op == 0x89 || cmd->op == 0x41 ||
					   cmd->op == 0x93) && cmd->edtl != cmd->out_len))
		return bad_cdb(cmd);
	return 0;
}

static bool
all_zero(const uint8_t *p, size_t len)
{
	return memcmp(p, zero_block, len) == 0;
}

int
iscsi_scsi_exec(struct iscsi_scmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;

	switch (cmd->op) {
	case 0x15:
		return mode_select(cmd, false);
	case 0x55:
		return mode_select(cmd, true);
	case 0x5f:
		return pr_out(cmd);
	case 0x08: case 0x28: case 0xa8: case 0x88:
		set_kind(cmd, IO_READ);
		return do_read(cmd);
	case 0x0a: case 0x2a: case 0xaa: case 0x8a:
	case 0x2e: case 0xae: case 0x8e:
		/* A short EDTL writes only the whole blocks that came. */
		if (cmd->out_got < cmd->out_len)
			cmd->nblocks = cmd->out_got / ISCSI_BLOCK_SIZE;
		if (cmd->nblocks == 0)
			return good(cmd, 0);
		set_kind(cmd, IO_WRITE);
		return do_write(cmd);
	case 0x2f: case 0xaf: case 0x8f:
		set_kind(cmd, IO_VERIFY);
		return do_verify_read(cmd);
	case 0x35: case 0x91:
		set_kind(cmd, IO_FLUSH);
		return do_flush(cmd);
	case 0x89:
		set_kind(cmd, IO_CAW);
		return do_caw(cmd);
	case 0x41: case 0x93: {
		bool ndob = cmd->op == 0x93 && (cdb[1] & 0x01);
		bool zero = ndob || all_zero(cmd->buf, ISCSI_BLOCK_SIZE);

		if (cmd->pos == cmd->end)
			return good(cmd, 0);
		/*
		 * UNMAP set: deallocate whatever the data (SBC-4 allows it, and
		 * with LBPRZ the blocks read back as zeroes).
		 */
		if (!zero && cmd->step != 0) {
			/* A pattern: copies of the block fill buf, written chunk by chunk. */
			for (uint32_t o = ISCSI_BLOCK_SIZE; o < cmd->max_io; o += ISCSI_BLOCK_SIZE)
				memcpy(cmd->buf + o, cmd->buf, ISCSI_BLOCK_SIZE);
			cmd->step = 2;
		}
		/* step 0: UNMAP bit with zero data -> discard; 1: write zeroes */
		set_kind(cmd, IO_RANGE);
		return do_range_step(cmd);
	}
	case 0x42: {
		const uint8_t *p = cmd->buf;
		uint32_t plen = cmd->out_len;
		uint32_t bdl, ndesc;
		uint64_t total = 0, blocks = lun_blocks(cmd);

		bdl = iscsi_get16(p + 2);
		if (iscsi_get16(p) + 2u > plen || bdl + 8u > plen || (bdl & 15))
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_PARAM_LIST_LENGTH_ERROR);
		ndesc = bdl / 16;
		if (ndesc > MAX_UNMAP_DESCRIPTORS)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM);
		for (uint32_t i = 0; i < ndesc; i++) {
			uint64_t lba = iscsi_get64(p + 8 + 16 * i);
			uint32_t n = iscsi_get32(p + 16 + 16 * i);

			if (lba > blocks || n > blocks - lba)
				return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
			total += n;
		}
		if (total > MAX_UNMAP_BLOCKS)
			return finish_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARAM);
		cmd->pos = 0;
		cmd->end = ndesc;
		set_kind(cmd, IO_UNMAP);
		return do_unmap_next(cmd);
	}
	default:
		return good(cmd, 0);
	}
}
