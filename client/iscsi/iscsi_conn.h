/*
 * Connections, sessions and worker threads of tessera-iscsi.
 *
 * Design (the QNAP-style split of parsing and data movement, on per-core
 * run-to-completion workers):
 *  - N worker threads, each with an epoll loop, its own libtessera queue
 *    (tsr_queue) and its connections. A connection lives on one worker from
 *    accept to close; nothing it owns is touched by another thread, so the
 *    data path takes no lock. The acceptor hands new sockets over through a
 *    small locked list and an eventfd (control path).
 *  - Receive is an explicit state machine (BHS, AHS, header digest, data,
 *    padding + data digest). The BHS is decoded first, so the data segment's
 *    destination is known before a byte of it is read: Data-Out and
 *    immediate data are received straight into the command's buffer at
 *    their buffer offset, and that buffer goes to tsr_queue_write as it is.
 *  - Send is a queue of PDUs (header + data iovec + padding/digest) written
 *    with sendmsg in batches; Data-In iovecs point into the buffer
 *    tsr_queue_read filled. No data byte is copied between socket and
 *    libtessera.
 *  - Commands run as soon as their data is in (no reordering across CmdSN
 *    on one connection: TCP keeps order, and MaxConnections is 1).
 *  - A connection that dies (EOF, error, protocol violation, reinstatement)
 *    stops reading and sending at once; commands already handed to
 *    libtessera complete into their buffers, and the connection's memory is
 *    released when the last one has (nothing is applied twice: a command
 *    runs once, its retries inside libtessera carry the same request id).
 */
#ifndef ISCSI_CONN_H
#define ISCSI_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "iscsi_login.h"
#include "iscsi_pdu.h"
#include "iscsi_scsi.h"

struct iscsi_conn;

/* Server-wide settings shared (read-only) by workers. */
struct iscsi_server_opts {
	uint32_t cmd_window;      /* commands in flight per session (CmdSN window) */
	uint64_t nop_interval_us; /* NOP-In ping after this idle time; 0: never */
	uint64_t nop_timeout_us;  /* close when a ping is unanswered this long */
	uint64_t login_timeout_us;
};

struct iscsi_worker {
	unsigned id;
	pthread_t thread;
	int epfd;
	int wake_fd;
	void *tsr_cluster; /* struct tsr_cluster * (NULL: RAM LUNs only) */
	struct iscsi_ioq ioq;
	const struct iscsi_server_opts *opts;

	pthread_mutex_t lock;        /* guards incoming, remote and stop */
	struct iscsi_conn *incoming; /* handed over by the acceptor */
	struct iscsi_scmd *remote;   /* commands completed by another thread */
	bool stop;

	struct iscsi_conn *conns;    /* owned by the worker thread */
	unsigned nconns;
	uint64_t now_us;
	int start_rc;                /* 0 or the error creating the queue */
	atomic_bool started;
};

/* Start a worker thread. Returns 0 or -errno. */
int iscsi_worker_start(struct iscsi_worker *w, unsigned id, void *tsr_cluster,
		       const struct iscsi_server_opts *opts);
/* Ask a worker to stop, close its connections (waiting for their I/O) and join. */
void iscsi_worker_stop(struct iscsi_worker *w);
/* Hand an accepted socket to a worker (any thread). Returns 0 or -ENOMEM. */
int iscsi_worker_add_conn(struct iscsi_worker *w, int fd, struct iscsi_config *cfg);

/*
 * The session registry (control path, one mutex): ISID+initiator+target ->
 * connection, for TSIH allocation, session reinstatement and reload.
 */
void iscsi_sessions_init(void);
/* Close every session whose target is gone from cfg or changed (reload). */
unsigned iscsi_sessions_reload(const struct iscsi_config *cfg);
/* Number of sessions in full feature phase (tests, logs). */
unsigned iscsi_sessions_count(void);

#endif
