/*
 * Logging: levels err/warn/info/debug, a subsystem per message, to stderr or a
 * file. Reactors never block on logging: a message is formatted into a
 * fixed-size slot of a lock-free ring that a logger thread drains to the fd
 * (tgt's usr/log.c). When the ring is full the message is dropped and counted;
 * the next line that gets through reports how many were lost.
 *
 * Before rt_log_init() (and in tools that never call it) messages go straight
 * to stderr, synchronously.
 */
#ifndef RT_LOG_H
#define RT_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum rt_log_level {
	RT_LOG_ERR = 0,
	RT_LOG_WARN = 1,
	RT_LOG_INFO = 2,
	RT_LOG_DEBUG = 3,
};

/* Subsystems, each with its own run-time debug switch. */
#define RT_LOG_SUBSYS_LIST(X)                                                              \
	X(RT_SS_GEN, "gen")                                                                \
	X(RT_SS_REACTOR, "reactor")                                                        \
	X(RT_SS_MSGR, "msgr")                                                              \
	X(RT_SS_FRAME, "frame")                                                            \
	X(RT_SS_STORE, "store")                                                            \
	X(RT_SS_MON, "mon")                                                                \
	X(RT_SS_OSD, "osd")                                                                \
	X(RT_SS_CLIENT, "client")                                                          \
	X(RT_SS_ISCSI, "iscsi")                                                            \
	X(RT_SS_VHOST, "vhost")                                                            \
	X(RT_SS_BENCH, "bench")

enum rt_log_subsys {
#define RT_SS_ENUM(id, name) id,
	RT_LOG_SUBSYS_LIST(RT_SS_ENUM)
#undef RT_SS_ENUM
	RT_SS__COUNT
};

/*
 * Start the logger thread, writing to path (NULL: stderr), appending.
 * level: the global threshold. ident: process name prefixed to every line.
 * Returns 0 or -errno.
 */
int rt_log_init(const char *ident, const char *path, enum rt_log_level level);

/* Drain the ring, stop the logger thread, close the file. */
void rt_log_fini(void);

void rt_log_set_level(enum rt_log_level level);
enum rt_log_level rt_log_get_level(void);

/* Enable debug output of one subsystem (by name, or "all"). Returns 0 or -ENOENT. */
int rt_log_set_debug(const char *subsys, bool on);
bool rt_log_debug_enabled(enum rt_log_subsys ss);

/* Parse "err|warn|info|debug". Returns the level or -EINVAL. */
int rt_log_level_parse(const char *s);

/* Messages lost because the ring was full. */
uint64_t rt_log_dropped(void);

void rt_log_write(enum rt_log_level level, enum rt_log_subsys ss, const char *file, int line,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define rt_log(level, ss, ...)                                                             \
	do {                                                                               \
		if ((level) <= rt_log_get_level() ||                                       \
		    ((level) == RT_LOG_DEBUG && rt_log_debug_enabled(ss)))                 \
			rt_log_write((level), (ss), __FILE__, __LINE__, __VA_ARGS__);      \
	} while (0)

#define rt_err(ss, ...) rt_log(RT_LOG_ERR, ss, __VA_ARGS__)
#define rt_warn(ss, ...) rt_log(RT_LOG_WARN, ss, __VA_ARGS__)
#define rt_info(ss, ...) rt_log(RT_LOG_INFO, ss, __VA_ARGS__)
#define rt_debug(ss, ...) rt_log(RT_LOG_DEBUG, ss, __VA_ARGS__)

/*
 * Rate-limited variant for hot paths: at most `per_sec` messages per second
 * from this call site; the next line that passes says how many were suppressed.
 */
struct rt_log_ratelimit {
	uint64_t window_start_us;
	uint32_t count;
	uint32_t suppressed;
};
bool rt_log_ratelimit_pass(struct rt_log_ratelimit *rl, unsigned per_sec, uint32_t *suppressed);

#define rt_log_ratelimited(level, ss, per_sec, ...)                                        \
	do {                                                                               \
		static _Thread_local struct rt_log_ratelimit rt__rl;                       \
		uint32_t rt__supp;                                                         \
		if (rt_log_ratelimit_pass(&rt__rl, (per_sec), &rt__supp)) {                \
			if (rt__supp)                                                      \
				rt_log((level), (ss), "(%u similar messages suppressed)",  \
				       rt__supp);                                          \
			rt_log((level), (ss), __VA_ARGS__);                                \
		}                                                                          \
	} while (0)

#define rt_err_rl(ss, ...) rt_log_ratelimited(RT_LOG_ERR, ss, 10, __VA_ARGS__)
#define rt_warn_rl(ss, ...) rt_log_ratelimited(RT_LOG_WARN, ss, 10, __VA_ARGS__)

#endif
