/* iSCSI text key parsing and building: see iscsi_keys.h. */
#include "iscsi_keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool
key_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '+' || c == '@' || c == '_';
}

int
iscsi_keys_parse(char *buf, size_t len, struct iscsi_keys *out)
{
	size_t off = 0;

	out->n = 0;
	/* Padding NULs at the end (several PDUs' worth) are tolerated. */
	while (len > 0 && buf[len - 1] == '\0' && (len < 2 || buf[len - 2] == '\0'))
		len--;
	while (off < len) {
		char *pair = buf + off;
		char *end = memchr(pair, '\0', len - off);
		char *eq;
		size_t klen, vlen;

		if (!end)
			return -EPROTO; /* the last pair must be NUL-terminated */
		eq = memchr(pair, '=', (size_t)(end - pair));
		if (!eq)
			return -EPROTO;
		klen = (size_t)(eq - pair);
		vlen = (size_t)(end - eq - 1);
		if (klen == 0 || klen > ISCSI_KEY_NAME_MAX || vlen > ISCSI_KEY_VALUE_MAX)
			return -EPROTO;
		for (size_t i = 0; i < klen; i++)
			if (!key_char_ok(pair[i]))
				return -EPROTO;
		*eq = '\0';
		for (unsigned i = 0; i < out->n; i++)
			if (strcmp(out->kv[i].key, pair) == 0)
				return -EPROTO;
		if (out->n == ISCSI_KEYS_MAX)
			return -E2BIG;
		out->kv[out->n].key = pair;
		out->kv[out->n].val = eq + 1;
		out->kv[out->n].used = false;
		out->n++;
		off = (size_t)(end - buf) + 1;
	}
	return 0;
}

const char *
iscsi_keys_get(struct iscsi_keys *k, const char *key)
{
	for (unsigned i = 0; i < k->n; i++)
		if (strcmp(k->kv[i].key, key) == 0) {
			k->kv[i].used = true;
			return k->kv[i].val;
		}
	return NULL;
}

void
iscsi_keybuf_init(struct iscsi_keybuf *kb, char *buf, size_t cap)
{
	kb->buf = buf;
	kb->len = 0;
	kb->cap = cap;
	kb->overflow = false;
}

void
iscsi_keybuf_add(struct iscsi_keybuf *kb, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);

	if (kb->len + kl + vl + 2 > kb->cap) {
		kb->overflow = true;
		return;
	}
	memcpy(kb->buf + kb->len, key, kl);
	kb->buf[kb->len + kl] = '=';
	memcpy(kb->buf + kb->len + kl + 1, val, vl);
	kb->buf[kb->len + kl + 1 + vl] = '\0';
	kb->len += kl + vl + 2;
}

void
iscsi_keybuf_addf(struct iscsi_keybuf *kb, const char *key, const char *fmt, ...)
{
	char val[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	iscsi_keybuf_add(kb, key, val);
}

int
iscsi_key_number(const char *val, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = val;

	if (!*p)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		if (!*p || strlen(p) > 16)
			return -EINVAL;
		for (; *p; p++) {
			int d;

			if (*p >= '0' && *p <= '9')
				d = *p - '0';
			else if (*p >= 'a' && *p <= 'f')
				d = *p - 'a' + 10;
			else if (*p >= 'A' && *p <= 'F')
				d = *p - 'A' + 10;
			else
				return -EINVAL;
			v = (v << 4) | (uint64_t)d;
		}
	} else {
		if (strlen(p) > 19)
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			v = v * 10 + (uint64_t)(*p - '0');
		}
	}
	*out = v;
	return 0;
}

int
iscsi_key_bool(const char *val, bool *out)
{
	if (strcmp(val, "Yes") == 0)
		*out = true;
	else if (strcmp(val, "No") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
iscsi_key_binary(const char *val, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (val[0] != '0' || !val[1])
		return -EINVAL;
	if (val[1] == 'x' || val[1] == 'X') {
		const char *p = val + 2;
		size_t l = strlen(p);

		if (l == 0)
			return -EINVAL;
		/* An odd digit count has an implied leading zero. */
		if (l & 1) {
			int d = hexval(*p++);

			if (d < 0)
				return -EINVAL;
			if (n == cap)
				return -E2BIG;
			out[n++] = (uint8_t)d;
		}
		for (; *p; p += 2) {
			int hi = hexval(p[0]), lo = hexval(p[1]);

			if (hi < 0 || lo < 0)
				return -EINVAL;
			if (n == cap)
				return -E2BIG;
			out[n++] = (uint8_t)(hi << 4 | lo);
		}
		return (int)n;
	}
	if (val[1] == 'b' || val[1] == 'B') {
		const char *p = val + 2;
		uint32_t acc = 0;
		int bits = 0;

		if (!*p)
			return -EINVAL;
		for (; *p && *p != '='; p++) {
			int d = b64val(*p);

			if (d < 0)
				return -EINVAL;
			acc = (acc << 6) | (uint32_t)d;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				if (n == cap)
					return -E2BIG;
				out[n++] = (uint8_t)(acc >> bits);
			}
		}
		for (; *p; p++)
			if (*p != '=')
				return -EINVAL;
		return (int)n;
	}
	return -EINVAL;
}

void
iscsi_key_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		out[2 + 2 * i] = digits[in[i] >> 4];
		out[3 + 2 * i] = digits[in[i] & 15];
	}
	out[2 + 2 * len] = '\0';
}

bool
iscsi_key_list_has(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	while (*p) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);

		if (l == wl && strncmp(p, word, wl) == 0)
			return true;
		if (!c)
			break;
		p = c + 1;
	}
	return false;
}
