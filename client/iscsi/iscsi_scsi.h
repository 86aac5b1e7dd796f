/*
 * The SCSI command layer of tessera-iscsi (SPC-4 / SBC-4 over 4096-byte
 * logical blocks), independent of the iSCSI transport.
 *
 * A command (struct iscsi_scmd) lives inside a transport task. The transport
 * calls iscsi_scsi_prepare() when the command arrives: it decodes the CDB and
 * says how many bytes of Data-Out the command needs (out_len), or finishes it
 * at once with a status (bad opcode, LBA out of range, reservation conflict,
 * unit attention...). Once the data is in cmd->buf, the transport calls
 * iscsi_scsi_exec(), which runs the command against the LUN's backend
 * (struct iscsi_lun_ops; the real one is libtessera, tests use RAM) and fills
 * status, sense and Data-In (in cmd->buf, in_len bytes).
 *
 * Data never moves between the transport and the backend: Data-Out lands in
 * cmd->buf and the backend writes from there; the backend reads into
 * cmd->buf and Data-In is sent from there.
 *
 * Everything here runs on the connection's worker thread. LUN state shared by
 * workers (persistent reservations, the capacity generation) is guarded as
 * each field says.
 */
#ifndef ISCSI_SCSI_H
#define ISCSI_SCSI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ISCSI_BLOCK_SIZE 4096u
#define ISCSI_SENSE_MAX 32
#define ISCSI_CDB_MAX 16

/* SCSI status codes. */
#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02
#define SCSI_STATUS_BUSY 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL 0x28
#define SCSI_STATUS_TASK_ABORTED 0x40

/* Sense keys. */
#define SK_NO_SENSE 0x0
#define SK_NOT_READY 0x2
#define SK_MEDIUM_ERROR 0x3
#define SK_HARDWARE_ERROR 0x4
#define SK_ILLEGAL_REQUEST 0x5
#define SK_UNIT_ATTENTION 0x6
#define SK_DATA_PROTECT 0x7
#define SK_ABORTED_COMMAND 0xb
#define SK_MISCOMPARE 0xe

/* Additional sense code + qualifier, as one 16-bit value. */
#define ASC_INVALID_OPCODE 0x2000
#define ASC_LBA_OUT_OF_RANGE 0x2100
#define ASC_INVALID_FIELD_IN_CDB 0x2400
#define ASC_LUN_NOT_SUPPORTED 0x2500
#define ASC_INVALID_FIELD_IN_PARAM 0x2600
#define ASC_PARAM_LIST_LENGTH_ERROR 0x1a00
#define ASC_MISCOMPARE_DURING_VERIFY 0x1d00
#define ASC_CAPACITY_CHANGED 0x2a09
#define ASC_RESERVATIONS_PREEMPTED 0x2a03
#define ASC_RESERVATIONS_RELEASED 0x2a04
#define ASC_REGISTRATIONS_PREEMPTED 0x2a05
#define ASC_POWER_ON_RESET 0x2900
#define ASC_BUS_DEVICE_RESET 0x2903
#define ASC_UNRECOVERED_READ_ERROR 0x1100
#define ASC_WRITE_ERROR 0x0c00
#define ASC_MEDIUM_NOT_PRESENT 0x3a00
#define ASC_INTERNAL_TARGET_FAILURE 0x4400
#define ASC_SAVING_PARAMS_UNSUPPORTED 0x3900
#define ASC_NO_ADDITIONAL_SENSE 0x0000
#define ASC_INSUFFICIENT_REG_RESOURCES 0x5504
#define ASC_PROTOCOL_SERVICE_CRC_ERROR 0x4705 /* iSCSI: a data PDU lost (RFC 7143 11.4.7.2) */

/* Backend completion: result >= 0 on success, else a negative errno. */
typedef void (*iscsi_io_cb)(void *arg, ssize_t result);

struct iscsi_ioq;

/*
 * A LUN's backend. Every I/O call follows the async contract: returns 0: cb
 * runs exactly once, later, on the calling worker thread (from the worker's
 * poll of ioq); returns <0 (-EINVAL, -ERANGE, -EAGAIN when the queue is full,
 * ...): cb never runs. Offsets and lengths are multiples of 4096.
 */
struct iscsi_lun_ops {
	uint64_t (*size_bytes)(void *be);
	int (*read)(void *be, struct iscsi_ioq *q, uint64_t off, size_t len, void *buf,
		    iscsi_io_cb cb, void *arg);
	int (*write)(void *be, struct iscsi_ioq *q, uint64_t off, size_t len, const void *buf,
		     iscsi_io_cb cb, void *arg);
	int (*flush)(void *be, struct iscsi_ioq *q, iscsi_io_cb cb, void *arg);
	int (*discard)(void *be, struct iscsi_ioq *q, uint64_t off, uint64_t len, iscsi_io_cb cb,
		       void *arg);
	int (*write_zeroes)(void *be, struct iscsi_ioq *q, uint64_t off, uint64_t len,
			    iscsi_io_cb cb, void *arg);
	/* -EILSEQ result on a miscompare, *mismatch_off then the byte offset. */
	int (*compare_and_write)(void *be, struct iscsi_ioq *q, uint64_t off, size_t len,
				 const void *cmp, const void *buf, uint64_t *mismatch_off,
				 iscsi_io_cb cb, void *arg);
};

/* Persistent reservations of one LUN (SPC-4 5.13). */
#define ISCSI_PR_MAX_REG 32
#define ISCSI_NEXUS_ID_MAX 256

struct iscsi_pr_reg {
	char nexus[ISCSI_NEXUS_ID_MAX]; /* "initiator,i,0xISID" */
	uint64_t key;
};

struct iscsi_pr {
	pthread_mutex_t lock; /* guards every field below; taken by any worker */
	uint32_t generation;
	unsigned nreg;
	struct iscsi_pr_reg reg[ISCSI_PR_MAX_REG];
	bool reserved;
	uint8_t type;            /* 1 WE, 3 EA, 5 WE-RO, 6 EA-RO, 7 WE-AR, 8 EA-AR */
	char holder[ISCSI_NEXUS_ID_MAX]; /* nexus of the holder (unused for all-registrants) */
	/* Reservation key of the holder's registration. */
	uint64_t holder_key;
	/* SPC-2 RESERVE(6): the holding nexus, empty if none. */
	char reserve6[ISCSI_NEXUS_ID_MAX];
	/* Nexuses owed a unit attention (preempted, released), bitmask not kept:
	 * a small list of pending (nexus, asc). */
	unsigned nua;
	struct {
		char nexus[ISCSI_NEXUS_ID_MAX];
		uint16_t asc;
	} ua[ISCSI_PR_MAX_REG];
	/* Set while anything above restricts access (fast unlocked check). */
	atomic_bool active;
};

/* One exported LUN: shared by every worker; refcounted by the config. */
struct iscsi_lun {
	uint64_t lun;             /* LUN number */
	char volume[300];         /* volume name (RAM LUNs: "ramN@IQN") */
	uint64_t volume_id;       /* for the NAA designator and serial */
	const struct iscsi_lun_ops *ops;
	void *be;
	atomic_uint size_gen;     /* bumped on each resize seen (any thread) */
	atomic_uint reset_gen;    /* bumped by LUN RESET / target reset (any worker) */
	atomic_int refs;
	struct iscsi_pr pr;
	/* Reservations shared with other gateways through the cluster (NULL: this
	 * process only). See iscsi_pr_store.c. */
	struct iscsi_pr_store *pr_store;
};

/* The I_T nexus as the SCSI layer sees it (one per session). */
#define ISCSI_MAX_LUNS 64
struct iscsi_nexus {
	char id[ISCSI_NEXUS_ID_MAX]; /* "initiator,i,0xISID" (transport id) */
	uint16_t rel_port_id;        /* relative target port */
	/* Per LUN slot: the capacity generation this nexus has been told about. */
	unsigned seen_size_gen[ISCSI_MAX_LUNS];
	/* ... and the reset generation (BUS DEVICE RESET unit attention). */
	unsigned seen_reset_gen[ISCSI_MAX_LUNS];
	/* A pending unit attention for REQUEST SENSE / next command per slot. */
	uint16_t pending_ua[ISCSI_MAX_LUNS];
	/* Descriptor-format sense (MODE SELECT control page D_SENSE). */
	bool d_sense;
};

/* Per-worker I/O context handed to the backend (its queue lives there). */
struct iscsi_ioq {
	void *tsr_queue; /* struct tsr_queue *, or NULL for RAM-only workers */
	/* Deferred completions (RAM backend): singly linked, run by the worker. */
	struct iscsi_defer *defer_head, *defer_tail;
	/* Commands that got -EAGAIN from the backend, retried after completions. */
	struct iscsi_scmd *wait_head, *wait_tail;
	/* Completes a command from another thread on this queue's worker (set by
	 * the worker; used by the reservation store thread). */
	void (*complete_remote)(struct iscsi_ioq *q, struct iscsi_scmd *cmd);
	void *owner;
};

struct iscsi_defer {
	struct iscsi_defer *next;
	iscsi_io_cb cb;
	void *arg;
	ssize_t result;
};

enum iscsi_scmd_state {
	SCMD_IDLE = 0,
	SCMD_RUNNING,
};

struct iscsi_scmd {
	/* Set by the transport before prepare. */
	struct iscsi_lun *lun;     /* NULL: LUN not mapped */
	unsigned lun_slot;         /* index for nexus per-LUN state */
	struct iscsi_nexus *nexus;
	struct iscsi_ioq *ioq;
	uint8_t cdb[ISCSI_CDB_MAX];
	uint32_t edtl;             /* expected data transfer length */
	bool dir_read, dir_write;
	uint8_t *buf;              /* data buffer, 4 KiB aligned */
	uint32_t buf_cap;          /* bytes; at least 2 x max_io */
	uint32_t max_io;           /* largest transfer (bytes) */
	const struct iscsi_lun **luns; /* REPORT LUNS: the session's LUN table */
	unsigned nluns;
	void (*done)(struct iscsi_scmd *cmd);

	/* Set by prepare. */
	uint32_t out_len;          /* Data-Out bytes the command needs */
	/* Set by the transport before exec: Data-Out bytes received (<= out_len). */
	uint32_t out_got;

	/* Results. */
	uint32_t in_len;           /* Data-In bytes in buf */
	uint8_t status;
	uint8_t sense_len;
	uint8_t sense[ISCSI_SENSE_MAX];

	/* Private to iscsi_scsi.c. */
	unsigned state;            /* SCMD_* | io kind << 8 */
	uint8_t op;
	uint64_t lba;
	uint32_t nblocks;
	uint64_t pos, end;         /* multi-step ops, in blocks */
	uint32_t step;
	uint64_t mismatch_off;
	int (*resume)(struct iscsi_scmd *cmd); /* re-submit after -EAGAIN */
	struct iscsi_scmd *wait_next;
	struct iscsi_scmd *remote_next; /* cross-thread completion list */
};

/* PR OUT on a state the caller owns or has locked; true when it changed. */
bool iscsi_pr_out_apply(struct iscsi_pr *pr, struct iscsi_scmd *cmd);

struct iscsi_pr_store;
/*
 * Hand a PR OUT (Data-Out in cmd->buf) to the reservation store thread.
 * Returns 0: cmd->done runs later on the command's worker (through
 * ioq->complete_remote); returns 1: finished now (status set).
 */
int iscsi_pr_store_submit(struct iscsi_scmd *cmd);
/* Open the shared record of lun (a sidecar volume "<volume>.iscsi-pr") and load it.
 * cluster: struct tsr_cluster *. Returns 0 or -errno (then reservations stay local). */
int iscsi_pr_store_open(struct iscsi_lun *lun, void *cluster);
void iscsi_pr_store_close(struct iscsi_lun *lun);
/* Tell the other gateways of a LUN reset (asynchronous; no-op without a store). */
void iscsi_pr_store_lun_reset(struct iscsi_lun *lun);

/*
 * Decode the CDB and check it against the LUN. Returns 0: the command needs
 * cmd->out_len bytes of Data-Out (0 for none), then iscsi_scsi_exec(); or 1:
 * the command is finished already (status/sense/in_len set; Data-Out the
 * initiator sends anyway is to be discarded).
 */
int iscsi_scsi_prepare(struct iscsi_scmd *cmd);

/*
 * Run a prepared command whose Data-Out (cmd->out_len bytes) is in cmd->buf.
 * Returns 1: finished now (done is not called); returns 0: cmd->done(cmd)
 * runs exactly once, later, on this worker thread.
 */
int iscsi_scsi_exec(struct iscsi_scmd *cmd);

/* Retry commands parked on -EAGAIN (call after backend completions). */
void iscsi_ioq_retry(struct iscsi_ioq *q);
/* Run deferred completions. Returns how many ran. */
unsigned iscsi_ioq_run_deferred(struct iscsi_ioq *q);
/* Queue a completion for the next iscsi_ioq_run_deferred (def is caller memory). */
void iscsi_ioq_defer(struct iscsi_ioq *q, struct iscsi_defer *def, iscsi_io_cb cb, void *arg,
		     ssize_t result);

/* Fixed-format sense data into cmd (CHECK CONDITION). */
void iscsi_scsi_sense(struct iscsi_scmd *cmd, uint8_t key, uint16_t asc);

/* LUN life cycle: init the PR state; put frees via the backend's close hook. */
void iscsi_lun_init(struct iscsi_lun *lun);
void iscsi_lun_fini(struct iscsi_lun *lun);

/* Drop the nexus's SPC-2 reservation (I_T nexus loss, logout, LUN reset). */
void iscsi_pr_nexus_lost(struct iscsi_lun *lun, const char *nexus);
/* LUN reset: drop RESERVE(6) reservations (persistent ones survive). */
void iscsi_pr_lun_reset(struct iscsi_lun *lun);

/* ALUA: the target port group ids of every gateway (REPORT TARGET PORT GROUPS). */
#define ISCSI_MAX_TPGS 32
void iscsi_scsi_set_tpgs(const uint16_t *ids, unsigned n);

/* The 64-bit LUN field encoding (SAM flat/peripheral addressing). */
uint64_t iscsi_lun_encode(uint64_t lun);
uint64_t iscsi_lun_decode(uint64_t raw);

#endif
