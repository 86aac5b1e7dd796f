/*
 * Non-blocking logger.
 *
 * Producers (any thread, reactors included) format a line into a slot of a
 * bounded lock-free MPSC ring (Vyukov's bounded queue: a sequence number per
 * slot). One logger thread drains the ring to the output fd. When the ring is
 * full the line is dropped and counted; the logger reports the count. The
 * producer touches the logger's eventfd only when the logger said it is going
 * to sleep, so a busy reactor pays no syscall per line.
 */
#include "rt_log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOG_SLOTS 1024
#define LOG_LINE_MAX 512

struct log_slot {
	_Atomic uint64_t seq;
	uint32_t len;
	char line[LOG_LINE_MAX];
};

static const char *const level_names[] = {"ERR", "WARN", "INFO", "DEBUG"};
static const char *const subsys_names[] = {
#define RT_SS_NAME(id, name) name,
	RT_LOG_SUBSYS_LIST(RT_SS_NAME)
#undef RT_SS_NAME
};

static struct {
	_Atomic int level;
	_Atomic uint32_t debug_mask;
	_Atomic bool running;
	_Atomic bool sleeping;
	_Atomic uint64_t dropped;
	_Atomic uint64_t head; /* next slot producers claim */
	uint64_t tail;         /* next slot the logger reads (logger thread only) */
	int fd;
	int efd;
	char ident[32];
	pthread_t thread;
	struct log_slot *slots;
} g_log = {.level = RT_LOG_INFO, .fd = 2, .efd = -1, .ident = "tessera"};

void
rt_log_set_level(enum rt_log_level level)
{
	atomic_store(&g_log.level, (int)level);
}

enum rt_log_level
rt_log_get_level(void)
{
	return (enum rt_log_level)atomic_load_explicit(&g_log.level, memory_order_relaxed);
}

int
rt_log_level_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "error") == 0)
		return RT_LOG_ERR;
	if (strcasecmp(s, "warning") == 0)
		return RT_LOG_WARN;
	return -EINVAL;
}

int
rt_log_set_debug(const char *subsys, bool on)
{
	uint32_t bits = 0;

	if (strcmp(subsys, "all") == 0) {
		bits = (1u << RT_SS__COUNT) - 1;
	} else {
		for (int i = 0; i < RT_SS__COUNT; i++)
			if (strcmp(subsys, subsys_names[i]) == 0)
				bits = 1u << i;
	}
	if (!bits)
		return -ENOENT;
	if (on)
		atomic_fetch_or(&g_log.debug_mask, bits);
	else
		atomic_fetch_and(&g_log.debug_mask, ~bits);
	return 0;
}

bool
rt_log_debug_enabled(enum rt_log_subsys ss)
{
	return atomic_load_explicit(&g_log.debug_mask, memory_order_relaxed) & (1u << ss);
}

uint64_t
rt_log_dropped(void)
{
	return atomic_load(&g_log.dropped);
}

static void
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere to report a failing log fd */
		}
		buf += n;
		len -= (size_t)n;
	}
}

static size_t
format_prefix(char *buf, size_t cap, enum rt_log_level level, enum rt_log_subsys ss)
{
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s[%d] %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000, g_log.ident, (int)getpid(),
		     level_names[level], subsys_names[ss]);
	return n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
}

static size_t __attribute__((format(printf, 7, 0)))
format_line(char *buf, size_t cap, enum rt_log_level level, enum rt_log_subsys ss,
	    const char *file, int line, const char *fmt, va_list ap)
{
	size_t len = format_prefix(buf, cap, level, ss);
	int n = vsnprintf(buf + len, cap - len, fmt, ap);
	const char *base = strrchr(file, '/');

	if (n > 0)
		len += (size_t)n >= cap - len ? cap - len - 1 : (size_t)n;
	if (level == RT_LOG_DEBUG && len < cap - 1) {
		n = snprintf(buf + len, cap - len, " (%s:%d)", base ? base + 1 : file, line);
		if (n > 0)
			len += (size_t)n >= cap - len ? cap - len - 1 : (size_t)n;
	}
	if (len >= cap - 1)
		len = cap - 2;
	buf[len++] = '\n';
	return len;
}

void
rt_log_write(enum rt_log_level level, enum rt_log_subsys ss, const char *file, int line,
	     const char *fmt, ...)
{
	va_list ap;
	uint64_t pos;
	struct log_slot *slot;

	if ((unsigned)level > RT_LOG_DEBUG)
		level = RT_LOG_DEBUG;
	if ((unsigned)ss >= RT_SS__COUNT)
		ss = RT_SS_GEN;

	if (!atomic_load_explicit(&g_log.running, memory_order_acquire)) {
		char buf[LOG_LINE_MAX];
		size_t len;

		va_start(ap, fmt);
		len = format_line(buf, sizeof(buf), level, ss, file, line, fmt, ap);
		va_end(ap);
		write_all(g_log.fd, buf, len);
		return;
	}

	/* Claim a slot; a full ring drops the line rather than block. */
	pos = atomic_load_explicit(&g_log.head, memory_order_relaxed);
	for (;;) {
		slot = &g_log.slots[pos % LOG_SLOTS];
		uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);
		int64_t diff = (int64_t)(seq - pos);

		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&g_log.head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			atomic_fetch_add_explicit(&g_log.dropped, 1, memory_order_relaxed);
			return;
		} else {
			pos = atomic_load_explicit(&g_log.head, memory_order_relaxed);
		}
	}
	va_start(ap, fmt);
	slot->len = (uint32_t)format_line(slot->line, sizeof(slot->line), level, ss, file, line,
					  fmt, ap);
	va_end(ap);
	atomic_store_explicit(&slot->seq, pos + 1, memory_order_release);

	if (atomic_load_explicit(&g_log.sleeping, memory_order_seq_cst) &&
	    atomic_exchange(&g_log.sleeping, false)) {
		uint64_t one = 1;
		ssize_t n = write(g_log.efd, &one, sizeof(one));

		(void)n; /* EAGAIN: the counter is already non-zero, the logger wakes */
	}
}

/* Drain every published slot. Returns the number of lines written. */
static unsigned
log_drain(void)
{
	unsigned n = 0;
	static uint64_t reported_drops;

	for (;;) {
		struct log_slot *slot = &g_log.slots[g_log.tail % LOG_SLOTS];
		uint64_t seq = atomic_load_explicit(&slot->seq, memory_order_acquire);

		if (seq != g_log.tail + 1)
			break;
		write_all(g_log.fd, slot->line, slot->len);
		atomic_store_explicit(&slot->seq, g_log.tail + LOG_SLOTS, memory_order_release);
		g_log.tail++;
		n++;
	}
	uint64_t drops = atomic_load(&g_log.dropped);
	if (drops != reported_drops) {
		char buf[LOG_LINE_MAX];
		size_t len = format_prefix(buf, sizeof(buf), RT_LOG_WARN, RT_SS_GEN);
		int k = snprintf(buf + len, sizeof(buf) - len,
				 "log ring full: %llu messages dropped\n",
				 (unsigned long long)(drops - reported_drops));

		if (k > 0)
			write_all(g_log.fd, buf, len + (size_t)k);
		reported_drops = drops;
	}
	return n;
}

static void *
log_thread(void *arg)
{
	(void)arg;
	while (atomic_load(&g_log.running)) {
		if (log_drain())
			continue;
		/* Announce the sleep, then re-check so no line is stranded. */
		atomic_store(&g_log.sleeping, true);
		if (log_drain()) {
			atomic_store(&g_log.sleeping, false);
			continue;
		}
		struct pollfd pfd = {.fd = g_log.efd, .events = POLLIN};
		if (poll(&pfd, 1, 200) > 0) {
			uint64_t v;
			ssize_t n = read(g_log.efd, &v, sizeof(v));

			(void)n;
		}
		atomic_store(&g_log.sleeping, false);
	}
	log_drain();
	return NULL;
}

int
rt_log_init(const char *ident, const char *path, enum rt_log_level level)
{
	int rc;

	if (atomic_load(&g_log.running))
		return -EALREADY;
	snprintf(g_log.ident, sizeof(g_log.ident), "%s", ident ? ident : "tessera");
	rt_log_set_level(level);
	if (path) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		g_log.fd = fd;
	}
	g_log.slots = calloc(LOG_SLOTS, sizeof(*g_log.slots));
	if (!g_log.slots) {
		rc = -ENOMEM;
		goto out_close;
	}
	for (uint64_t i = 0; i < LOG_SLOTS; i++)
		atomic_init(&g_log.slots[i].seq, i);
	atomic_store(&g_log.head, 0);
	g_log.tail = 0;
	g_log.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_log.efd < 0) {
		rc = -errno;
		goto out_free;
	}
	atomic_store(&g_log.running, true);
	rc = -pthread_create(&g_log.thread, NULL, log_thread, NULL);
	if (rc < 0) {
		atomic_store(&g_log.running, false);
		goto out_efd;
	}
	return 0;

out_efd:
	close(g_log.efd);
	g_log.efd = -1;
out_free:
	free(g_log.slots);
	g_log.slots = NULL;
out_close:
	if (g_log.fd != 2) {
		close(g_log.fd);
		g_log.fd = 2;
	}
	return rc;
}

void
rt_log_fini(void)
{
	uint64_t one = 1;
	ssize_t n;

	if (!atomic_load(&g_log.running))
		return;
	atomic_store(&g_log.running, false);
	n = write(g_log.efd, &one, sizeof(one));
	(void)n;
	pthread_join(g_log.thread, NULL);
	close(g_log.efd);
	g_log.efd = -1;
	free(g_log.slots);
	g_log.slots = NULL;
	if (g_log.fd != 2) {
		close(g_log.fd);
		g_log.fd = 2;
	}
}

bool
rt_log_ratelimit_pass(struct rt_log_ratelimit *rl, unsigned per_sec, uint32_t *suppressed)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	*suppressed = 0;
	if (now - rl->window_start_us >= 1000000u) {
		*suppressed = rl->suppressed;
		rl->window_start_us = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	if (rl->count < per_sec) {
		rl->count++;
		return true;
	}
	rl->suppressed++;
	return false;
}
