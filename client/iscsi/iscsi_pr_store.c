/*
 * Persistent reservations kept in the cluster, so that every gateway
 * exporting a volume agrees on them (multipath with SCSI-3 PR: Windows
 * failover clusters, ESXi, Pacemaker fencing).
 *
 * Each LUN backed by volume V has a sidecar volume "V.iscsi-pr" (64 KiB)
 * whose first REC_LEN bytes hold the registrations and the reservation
 * (a small record: magic, length, CRC32C, then the fields). A PR OUT is
 * applied by one store thread per process, off the workers:
 *   1. read the record, 2. apply the PR OUT to a private copy
 *   (iscsi_pr_out_apply, the same code as the in-process case),
 *   3. compare-and-write the new record against the bytes read (the OSD's
 *   atomic compare-and-write): a miscompare means another gateway changed it
 *   first, so start again from 1, 4. install the result in the LUN's cached
 *   state, 5. resize the sidecar between two sizes: a volume-metadata change
 *   the monitor pushes to every watcher at once, which is how the other
 *   gateways learn to re-read the record.
 * The data path checks reservations against the cached state (no I/O); it is
 * at most one map push behind another gateway's change. Unit attentions for
 * registrations that disappear are derived on each gateway by comparing the
 * old and the new state. RESERVE(6)/RELEASE(6) stay per gateway (SPC-2).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_pdu.h"
#include "iscsi_scsi.h"
#include "rt_crc.h"
#include "rt_log.h"
#include "tessera/tessera.h"

#define REC_LEN (32u * 1024)
#define SIDECAR_SIZE (64u * 1024)
#define REC_MAGIC 0x5453525052303031ull /* "TSRPR001" */
#define MAX_STORES 1024

struct iscsi_pr_store {
	struct iscsi_lun *lun;
	struct tsr_volume *vol;
	atomic_bool dirty;
	atomic_bool reset_pending; /* a LUN reset here, to publish */
	uint32_t reset_seen;       /* the record's reset count we have acted on */
};

/*
 * Two locks: store_lock (short, never held across a libtessera call: the
 * volume watch callback takes it on a library thread while a resize we issued
 * may be waiting for that thread) guards the job list and the thread flags;
 * work_lock serialises the store thread's work with open/close and guards the
 * stores array.
 */
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t store_cond = PTHREAD_COND_INITIALIZER;
static struct iscsi_pr_store *stores[MAX_STORES]; /* guarded by work_lock */
static unsigned nstores;                          /* guarded by work_lock */
static struct iscsi_scmd *jobs_head, *jobs_tail;  /* guarded by store_lock */
static bool thread_started, thread_stop;
static pthread_t store_thread;
static atomic_bool any_dirty;
static uint8_t rec_old[REC_LEN], rec_new[REC_LEN]; /* used by the store thread only */

/* ------------------------------------------------------------ encoding */

static size_t
put_str(uint8_t *p, size_t off, size_t cap, const char *s)
{
	size_t n = strnlen(s, ISCSI_NEXUS_ID_MAX - 1);

	if (off + 2 + n > cap)
		return 0;
	iscsi_put16(p + off, (uint16_t)n);
	memcpy(p + off + 2, s, n);
	return off + 2 + n;
}

static size_t
get_str(const uint8_t *p, size_t off, size_t len, char *out)
{
	size_t n;

	if (off + 2 > len)
		return 0;
	n = iscsi_get16(p + off);
	if (n >= ISCSI_NEXUS_ID_MAX || off + 2 + n > len)
		return 0;
	memcpy(out, p + off + 2, n);
	out[n] = '\0';
	return off + 2 + n;
}

/*
 * Encode the shared fields of pr into out[REC_LEN], with seq (bumped on every
 * write of the record). Returns 0 or -ENOSPC.
 */
static int
pr_encode(const struct iscsi_pr *pr, uint32_t seq, uint32_t resets, uint8_t *out)
{
	size_t off = 24;

	memset(out, 0, REC_LEN);
	iscsi_put32(out + 16, seq);
	iscsi_put32(out + 20, resets);
	iscsi_put32(out + off, pr->generation);
	out[off + 4] = pr->reserved;
	out[off + 5] = pr->type;
	iscsi_put64(out + off + 6, pr->holder_key);
	off += 14;
	off = put_str(out, off, REC_LEN, pr->holder);
	if (!off || off + 2 > REC_LEN)
		return -ENOSPC;
	iscsi_put16(out + off, (uint16_t)pr->nreg);
	off += 2;
	for (unsigned i = 0; i < pr->nreg; i++) {
		if (off + 8 > REC_LEN)
			return -ENOSPC;
		iscsi_put64(out + off, pr->reg[i].key);
		off = put_str(out, off + 8, REC_LEN, pr->reg[i].nexus);
		if (!off)
			return -ENOSPC;
	}
	iscsi_put64(out, REC_MAGIC);
	iscsi_put32(out + 8, (uint32_t)(off - 16));
	iscsi_put32(out + 12, rt_crc32c(0, out + 16, off - 16));
	return 0;
}

/* Decode into pr's shared fields (others zero). An empty record is no state. */
static int
pr_decode(struct iscsi_pr *pr, uint32_t *seq, uint32_t *resets, const uint8_t *in)
{
	uint32_t len = iscsi_get32(in + 8);
	size_t off = 24, end;
	unsigned n;

	memset(pr, 0, sizeof(*pr));
	*seq = 0;
	*resets = 0;
	if (iscsi_get64(in) != REC_MAGIC)
		return 0; /* never written: no registrations */
	if (len < 8 || len > REC_LEN - 16 || rt_crc32c(0, in + 16, len) != iscsi_get32(in + 12))
		return -EIO;
	*seq = iscsi_get32(in + 16);
	*resets = iscsi_get32(in + 20);
	end = 16 + len;
	if (off + 14 > end)
		return -EIO;
	pr->generation = iscsi_get32(in + off);
	pr->reserved = in[off + 4] != 0;
	pr->type = in[off + 5];
	pr->holder_key = iscsi_get64(in + off + 6);
	off = get_str(in, off + 14, end, pr->holder);
	if (!off || off + 2 > end)
		return -EIO;
	n = iscsi_get16(in + off);
	off += 2;
	if (n > ISCSI_PR_MAX_REG)
		return -EIO;
	for (unsigned i = 0; i < n; i++) {
		if (off + 8 > end)
			return -EIO;
		pr->reg[i].key = iscsi_get64(in + off);
		off = get_str(in, off + 8, end, pr->reg[i].nexus);
		if (!off)
			return -EIO;
	}
	pr->nreg = n;
	return 0;
}

/* ------------------------------------------------------------- install */

static bool
has_reg(const struct iscsi_pr *pr, const char *nexus)
{
	for (unsigned i = 0; i < pr->nreg; i++)
		if (strcmp(pr->reg[i].nexus, nexus) == 0)
			return true;
	return false;
}

static void
add_ua(struct iscsi_pr *pr, const char *nexus, uint16_t asc)
{
	for (unsigned i = 0; i < pr->nua; i++)
		if (strcmp(pr->ua[i].nexus, nexus) == 0) {
			pr->ua[i].asc = asc;
			return;
		}
	if (pr->nua < ISCSI_PR_MAX_REG) {
		size_t n = strnlen(nexus, ISCSI_NEXUS_ID_MAX - 1);

		memmove(pr->ua[pr->nua].nexus, nexus, n);
		pr->ua[pr->nua].nexus[n] = '\0';
		pr->ua[pr->nua].asc = asc;
		pr->nua++;
	}
}

/*
 * Replace the LUN's cached shared state with nw. Registrations that vanished
 * (except the issuer's own, me) get REGISTRATIONS PREEMPTED; a released
 * registrants-only or all-registrants reservation gets RESERVATIONS RELEASED.
 */
static void
install(struct iscsi_lun *lun, const struct iscsi_pr *nw, const char *me)
{
	struct iscsi_pr *pr = &lun->pr;

	pthread_mutex_lock(&pr->lock);
	for (unsigned i = 0; i < pr->nreg; i++)
		if (!has_reg(nw, pr->reg[i].nexus) && (!me || strcmp(pr->reg[i].nexus, me)))
			add_ua(pr, pr->reg[i].nexus, ASC_REGISTRATIONS_PREEMPTED);
	if (pr->reserved && !nw->reserved && pr->type != 1 && pr->type != 3)
		for (unsigned i = 0; i < nw->nreg; i++)
			if (!me || strcmp(nw->reg[i].nexus, me))
				add_ua(pr, nw->reg[i].nexus, ASC_RESERVATIONS_RELEASED);
	for (unsigned i = 0; i < nw->nua; i++)
		add_ua(pr, nw->ua[i].nexus, nw->ua[i].asc);
	pr->generation = nw->generation;
	pr->nreg = nw->nreg;
	memcpy(pr->reg, nw->reg, sizeof(pr->reg));
	pr->reserved = nw->reserved;
	pr->type = nw->type;
	memcpy(pr->holder, nw->holder, sizeof(pr->holder));
	pr->holder_key = nw->holder_key;
	atomic_store(&pr->active, pr->reserved || pr->reserve6[0] || pr->nua > 0 || pr->nreg > 0);
	pthread_mutex_unlock(&pr->lock);
}

/* ------------------------------------------------------- store thread */

static void
fail_cmd(struct iscsi_scmd *cmd, int rc)
{
	rt_err_rl(RT_SS_ISCSI, "LUN %llu: reservation store: " "%s (%d)",
		  (unsigned long long)cmd->lun->lun, tsr_strerror(rc), rc);
	iscsi_scsi_sense(cmd, SK_NOT_READY, 0x0401);
}

static void
run_pr_out(struct iscsi_scmd *cmd)
{
	struct iscsi_pr_store *st = cmd->lun->pr_store;
	static struct iscsi_pr tmp;

	for (int attempt = 0; attempt < 32; attempt++) {
		uint64_t mm = 0;
		ssize_t rc = tsr_read(st->vol, 0, REC_LEN, rec_old);
		uint32_t seq, resets;
		bool changed;

		if (rc < 0) {
			fail_cmd(cmd, (int)rc);
			return;
		}
		if (pr_decode(&tmp, &seq, &resets, rec_old) < 0) {
			fail_cmd(cmd, -EIO);
			return;
		}
		changed = iscsi_pr_out_apply(&tmp, cmd);
		if (cmd->status != SCSI_STATUS_GOOD || !changed) {
			install(cmd->lun, &tmp, cmd->nexus->id);
			return;
		}
		seq++;
		if (pr_encode(&tmp, seq, resets, rec_new) < 0) {
			iscsi_scsi_sense(cmd, SK_ILLEGAL_REQUEST, ASC_INSUFFICIENT_REG_RESOURCES);
			return;
		}
		rc = tsr_compare_and_write(st->vol, 0, REC_LEN, rec_old, rec_new, &mm);
		if (rc == -EILSEQ)
			continue; /* another gateway changed it first */
		if (rc < 0) {
			fail_cmd(cmd, (int)rc);
			return;
		}
		install(cmd->lun, &tmp, cmd->nexus->id);
		/*
		 * Tell the other gateways: a metadata change every watcher sees.
		 * The size follows the record's sequence number, so two
		 * successive changes (from any gateways) never resize to the
		 * same size, which would notify nobody.
		 */
		rc = tsr_volume_resize(st->vol, SIDECAR_SIZE + 4096ull * (1 + seq % 240),
				       TSR_RESIZE_ALLOW_SHRINK);
		if (rc < 0)
			rt_warn_rl(RT_SS_ISCSI, "reservation store: notify: %s (%d)",
				   tsr_strerror((int)rc), (int)rc);
		return;
	}
	fail_cmd(cmd, -EBUSY);
}

static void
reload(struct iscsi_pr_store *st)
{
	static struct iscsi_pr tmp;
	ssize_t rc;

	uint32_t seq, resets;

	atomic_store(&st->dirty, false);
	rc = tsr_read(st->vol, 0, REC_LEN, rec_old);
	if (rc < 0 || pr_decode(&tmp, &seq, &resets, rec_old) < 0) {
		rt_warn_rl(RT_SS_ISCSI, "LUN %llu: cannot re-read the reservations",
			   (unsigned long long)st->lun->lun);
		return;
	}
	install(st->lun, &tmp, NULL);
	if (resets != st->reset_seen) {
		/* A LUN reset through another gateway: its unit attention here too. */
		st->reset_seen = resets;
		atomic_fetch_add(&st->lun->reset_gen, 1);
	}
}

/* Publish a LUN reset made through this gateway (bump the record's count). */
static void
publish_reset(struct iscsi_pr_store *st)
{
	static struct iscsi_pr tmp;

	atomic_store(&st->reset_pending, false);
	for (int attempt = 0; attempt < 32; attempt++) {
		uint32_t seq, resets;
		uint64_t mm = 0;
		ssize_t rc = tsr_read(st->vol, 0, REC_LEN, rec_old);

		if (rc < 0 || pr_decode(&tmp, &seq, &resets, rec_old) < 0 ||
		    pr_encode(&tmp, seq + 1, resets + 1, rec_new) < 0)
			break;
		rc = tsr_compare_and_write(st->vol, 0, REC_LEN, rec_old, rec_new, &mm);
		if (rc == -EILSEQ)
			continue;
		if (rc < 0)
			break;
		st->reset_seen = resets + 1;
		tsr_volume_resize(st->vol, SIDECAR_SIZE + 4096ull * (1 + (seq + 1) % 240),
				  TSR_RESIZE_ALLOW_SHRINK);
		return;
	}
	rt_warn_rl(RT_SS_ISCSI, "LUN %llu: could not publish a LUN reset to other gateways",
		   (unsigned long long)st->lun->lun);
}

void
iscsi_pr_store_lun_reset(struct iscsi_lun *lun)
{
	struct iscsi_pr_store *st = lun->pr_store;

	if (!st)
		return;
	atomic_store(&st->reset_pending, true);
	atomic_store(&any_dirty, true);
	pthread_mutex_lock(&store_lock);
	pthread_cond_signal(&store_cond);
	pthread_mutex_unlock(&store_lock);
}

static void *
store_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct iscsi_scmd *cmd;

		pthread_mutex_lock(&store_lock);
		while (!thread_stop && !jobs_head && !atomic_load(&any_dirty))
			pthread_cond_wait(&store_cond, &store_lock);
		if (thread_stop && !jobs_head) {
			pthread_mutex_unlock(&store_lock);
			break;
		}
		cmd = jobs_head;
		if (cmd) {
			jobs_head = cmd->remote_next;
			if (!jobs_head)
				jobs_tail = NULL;
		}
		pthread_mutex_unlock(&store_lock);

		pthread_mutex_lock(&work_lock);
		if (atomic_exchange(&any_dirty, false))
			for (unsigned i = 0; i < nstores; i++) {
				if (atomic_load(&stores[i]->reset_pending))
					publish_reset(stores[i]);
				if (atomic_load(&stores[i]->dirty))
					reload(stores[i]);
			}
		if (cmd)
			run_pr_out(cmd);
		pthread_mutex_unlock(&work_lock);
		if (cmd)
			cmd->ioq->complete_remote(cmd->ioq, cmd);
	}
	return NULL;
}

int
iscsi_pr_store_submit(struct iscsi_scmd *cmd)
{
	if (!cmd->ioq->complete_remote) {
		/* No worker to complete on (unit tests): apply locally. */
		pthread_mutex_lock(&cmd->lun->pr.lock);
		iscsi_pr_out_apply(&cmd->lun->pr, cmd);
		pthread_mutex_unlock(&cmd->lun->pr.lock);
		return 1;
	}
	pthread_mutex_lock(&store_lock);
	cmd->remote_next = NULL;
	if (jobs_tail)
		jobs_tail->remote_next = cmd;
	else
		jobs_head = cmd;
	jobs_tail = cmd;
	pthread_cond_signal(&store_cond);
	pthread_mutex_unlock(&store_lock);
	return 0;
}

/* Volume watch of the sidecar (a library thread): only flags and a signal. */
static void
on_event(struct tsr_volume *vol, enum tsr_volume_event ev, uint64_t size, void *arg)
{
	struct iscsi_pr_store *st = arg;

	(void)vol;
	(void)size;
	if (ev != TSR_VOLUME_RESIZED)
		return;
	atomic_store(&st->dirty, true);
	atomic_store(&any_dirty, true);
	pthread_mutex_lock(&store_lock);
	pthread_cond_signal(&store_cond);
	pthread_mutex_unlock(&store_lock);
}

int
iscsi_pr_store_open(struct iscsi_lun *lun, void *cluster)
{
	char name[TSR_NAME_MAX + 1];
	struct iscsi_pr_store *st;
	static struct iscsi_pr tmp;
	int rc;

	if (snprintf(name, sizeof(name), "%s.iscsi-pr", lun->volume) >= (int)sizeof(name))
		return -ENAMETOOLONG;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->lun = lun;
	atomic_init(&st->dirty, false);
	atomic_init(&st->reset_pending, false);
	rc = tsr_volume_create(cluster, name, SIDECAR_SIZE, NULL);
	if (rc < 0 && rc != -EEXIST)
		goto out_free;
	rc = tsr_volume_open(cluster, name, &st->vol);
	if (rc < 0)
		goto out_free;
	pthread_mutex_lock(&work_lock);
	rc = (int)tsr_read(st->vol, 0, REC_LEN, rec_old);
	if (rc >= 0) {
		uint32_t seq;

		rc = pr_decode(&tmp, &seq, &st->reset_seen, rec_old);
	}
	if (rc >= 0 && nstores == MAX_STORES)
		rc = -ENOSPC;
	if (rc >= 0) {
		pthread_mutex_lock(&store_lock);
		if (!thread_started) {
			thread_stop = false;
			rc = -pthread_create(&store_thread, NULL, store_main, NULL);
			thread_started = rc == 0;
		}
		pthread_mutex_unlock(&store_lock);
	}
	if (rc < 0) {
		pthread_mutex_unlock(&work_lock);
		goto out_close;
	}
	install(lun, &tmp, NULL);
	stores[nstores++] = st;
	lun->pr_store = st;
	pthread_mutex_unlock(&work_lock);
	tsr_volume_watch(st->vol, on_event, st);
	return 0;
out_close:
	tsr_volume_close(st->vol);
out_free:
	free(st);
	return rc;
}

void
iscsi_pr_store_close(struct iscsi_lun *lun)
{
	struct iscsi_pr_store *st = lun->pr_store;
	bool last;

	if (!st)
		return;
	tsr_volume_watch(st->vol, NULL, NULL);
	pthread_mutex_lock(&work_lock);
	for (unsigned i = 0; i < nstores; i++)
		if (stores[i] == st) {
			stores[i] = stores[--nstores];
			break;
		}
	lun->pr_store = NULL;
	last = nstores == 0;
	pthread_mutex_unlock(&work_lock);
	pthread_mutex_lock(&store_lock);
	last = last && thread_started;
	if (last) {
		thread_stop = true;
		pthread_cond_signal(&store_cond);
	}
	pthread_mutex_unlock(&store_lock);
	if (last) {
		pthread_join(store_thread, NULL);
		pthread_mutex_lock(&store_lock);
		thread_started = false;
		thread_stop = false;
		pthread_mutex_unlock(&store_lock);
	}
	tsr_volume_close(st->vol);
	free(st);
}
