/*
 * iSCSI text keys (RFC 7143 section 6): the "key=value\0" lists carried by
 * Login and Text PDUs. Parsing is in place over a caller buffer and checks
 * every rule that keeps later code simple: each pair ends with a NUL, keys are
 * 1..63 characters of the allowed set, values are at most 8192 bytes, no key
 * appears twice, at most ISCSI_KEYS_MAX pairs.
 */
#ifndef ISCSI_KEYS_H
#define ISCSI_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISCSI_KEYS_MAX 64
#define ISCSI_KEY_NAME_MAX 63
#define ISCSI_KEY_VALUE_MAX 8192

struct iscsi_kv {
	const char *key;
	const char *val;
	bool used; /* set by the negotiator once answered */
};

struct iscsi_keys {
	unsigned n;
	struct iscsi_kv kv[ISCSI_KEYS_MAX];
};

/*
 * Parse len bytes of buf (modified: '=' become NULs). Trailing NUL padding is
 * allowed. Returns 0, or -EPROTO (malformed), -E2BIG (too many keys).
 */
int iscsi_keys_parse(char *buf, size_t len, struct iscsi_keys *out);

/* The value of key, or NULL. Marks it used. */
const char *iscsi_keys_get(struct iscsi_keys *k, const char *key);

/* Response builder: appends "key=value\0". */
struct iscsi_keybuf {
	char *buf;
	size_t len, cap;
	bool overflow;
};

void iscsi_keybuf_init(struct iscsi_keybuf *kb, char *buf, size_t cap);
void iscsi_keybuf_add(struct iscsi_keybuf *kb, const char *key, const char *val);
void iscsi_keybuf_addf(struct iscsi_keybuf *kb, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Numbers as RFC 7143 6.1 writes them: decimal, or 0x hex. Returns 0 or -EINVAL. */
int iscsi_key_number(const char *val, uint64_t *out);
/* "Yes"/"No". Returns 0 or -EINVAL. */
int iscsi_key_bool(const char *val, bool *out);
/*
 * Binary values (CHAP): "0x" hex or "0b" base64. Returns the decoded length,
 * or -EINVAL, -E2BIG (more than cap bytes).
 */
int iscsi_key_binary(const char *val, uint8_t *out, size_t cap);
/* Hex-encode len bytes as "0x..." into out (2*len+3 bytes). */
void iscsi_key_hex(const uint8_t *in, size_t len, char *out);
/* Is word one of the comma-separated values of list? */
bool iscsi_key_list_has(const char *list, const char *word);

#endif
