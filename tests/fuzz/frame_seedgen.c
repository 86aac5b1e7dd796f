/* Writes valid frames of several types into DIR, as the fuzzer's seed corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "map.pb-c.h"
#include "mon.pb-c.h"
#include "osd.pb-c.h"

static void
put(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len) {
		perror(path);
		exit(1);
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	uint8_t data[4096];
	struct iovec iov = {data, sizeof(data)};
	ssize_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	memset(data, 0xa5, sizeof(data));

	Tessera__ObjectId oid = TESSERA__OBJECT_ID__INIT;
	oid.pool = 1;
	oid.id = 77;
	Tessera__ClientOp op = TESSERA__CLIENT_OP__INIT;
	op.req_id = 5;
	op.op = TESSERA__OP_TYPE__OP_WRITE;
	op.oid = &oid;
	op.length = sizeof(data);
	n = frame_encode(buf, sizeof(buf), FRAME_T_CLIENT_OP, 1, FRAME_F_DATA_CRC, &op.base, &iov,
			 1);
	memcpy(buf + n, data, sizeof(data));
	put(argv[1], "client_op_write", buf, (size_t)n + sizeof(data));

	Tessera__OsdBoot boot = TESSERA__OSD_BOOT__INIT;
	Tessera__Address addr = TESSERA__ADDRESS__INIT, *addrs[1] = {&addr};
	addr.host = "127.0.0.1";
	addr.port = 6800;
	boot.uuid = "6f1c1c9e-0000-4000-8000-000000000001";
	boot.host = "node1";
	boot.n_reactors = 1;
	boot.reactors = addrs;
	n = frame_encode(buf, sizeof(buf), FRAME_T_OSD_BOOT, 2, 0, &boot.base, NULL, 0);
	put(argv[1], "osd_boot", buf, (size_t)n);

	Tessera__AdminCommand cmd = TESSERA__ADMIN_COMMAND__INIT;
	Tessera__AdminCommand__ArgsEntry e = TESSERA__ADMIN_COMMAND__ARGS_ENTRY__INIT,
					 *ents[1] = {&e};
	e.key = "size";
	e.value = "3";
	cmd.command = "pool create";
	cmd.n_args = 1;
	cmd.args = ents;
	n = frame_encode(buf, sizeof(buf), FRAME_T_ADMIN, 3, 0, &cmd.base, NULL, 0);
	put(argv[1], "admin", buf, (size_t)n);

	Tessera__PgMapping pg = TESSERA__PG_MAPPING__INIT, *pgs[1] = {&pg};
	uint32_t acting[3] = {0, 1, 2};
	pg.pool = 1;
	pg.n_acting = 3;
	pg.acting = acting;
	pg.state = "active+clean";
	Tessera__ClusterMap map = TESSERA__CLUSTER_MAP__INIT;
	map.epoch = 9;
	map.n_pgs = 1;
	map.pgs = pgs;
	n = frame_encode(buf, sizeof(buf), FRAME_T_MAP, 4, 0, &map.base, NULL, 0);
	put(argv[1], "map", buf, (size_t)n);

	Tessera__Ping ping = TESSERA__PING__INIT;
	ping.seq = 1;
	n = frame_encode(buf, sizeof(buf), FRAME_T_PONG, 5, FRAME_F_REPLY, &ping.base, NULL, 0);
	put(argv[1], "pong", buf, (size_t)n);
	return 0;
}
