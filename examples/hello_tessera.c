/*
 * hello_tessera: a first libtessera program.
 *
 * Connects to the cluster named by $TESSERA_MON (". DIR/cluster.env" after
 * deploy/local-cluster.sh up), creates a 64 MiB volume (default name
 * "hello"), opens it, writes one 4 KiB block, reads it back, compares, closes
 * the volume and removes it again (unless --keep).
 *
 * Build against the installed library:
 *     cc hello_tessera.c $(pkg-config --cflags --libs tessera) -o hello_tessera
 */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tessera/tessera.h>

int
main(int argc, char **argv)
{
	const char *name = "hello";
	struct tsr_cluster *cl = NULL;
	struct tsr_volume *vol = NULL;
	char *wbuf = NULL, *rbuf = NULL;
	int keep = 0, rc, ret = 1;
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: hello_tessera [--keep] [VOLUME]\n"
			       "Creates VOLUME (default hello, 64 MiB) on the cluster of "
			       "$TESSERA_MON, writes and reads back one block, removes it "
			       "(unless --keep).\n");
			return 0;
		} else if (strcmp(argv[i], "--keep") == 0) {
			keep = 1;
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "hello_tessera: unknown option '%s'\n", argv[i]);
			return 2;
		} else {
			name = argv[i];
		}
	}

	/* 1. A cluster handle, configured from the environment, connected. */
	rc = tsr_cluster_create(&cl);
	if (rc < 0)
		goto fail;
	rc = tsr_conf_parse_env(cl); /* TESSERA_MON=127.0.0.1:6789 ... */
	if (rc < 0)
		goto fail;
	rc = tsr_cluster_connect(cl);
	if (rc < 0)
		goto fail;

	/* 2. A volume: 64 MiB in the default pool, 4 MiB objects. */
	rc = tsr_volume_create(cl, name, 64ull << 20, NULL);
	if (rc < 0 && rc != -EEXIST)
		goto fail;
	rc = tsr_volume_open(cl, name, &vol);
	if (rc < 0)
		goto fail;

	/* 3. I/O: buffers of whole 4 KiB blocks (aligned buffers are the fast path). */
	if (posix_memalign((void **)&wbuf, 4096, TSR_BLOCK_SIZE) ||
	    posix_memalign((void **)&rbuf, 4096, TSR_BLOCK_SIZE)) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(wbuf, 0, TSR_BLOCK_SIZE);
	snprintf(wbuf, TSR_BLOCK_SIZE, "Hello, Tessera! (volume %s)", name);
	n = tsr_write(vol, 1 << 20, TSR_BLOCK_SIZE, wbuf); /* at 1 MiB */
	if (n < 0) {
		rc = (int)n;
		goto fail;
	}
	n = tsr_read(vol, 1 << 20, TSR_BLOCK_SIZE, rbuf);
	if (n < 0) {
		rc = (int)n;
		goto fail;
	}
	if (memcmp(wbuf, rbuf, TSR_BLOCK_SIZE) != 0) {
		fprintf(stderr, "hello_tessera: read back differs from what was written\n");
		goto out;
	}
	printf("wrote and read back: \"%s\"\n", rbuf);

	/* 4. Close (waits for in-flight I/O), optionally remove, disconnect. */
	rc = tsr_volume_close(vol);
	vol = NULL;
	if (rc < 0)
		goto fail;
	if (!keep) {
		rc = tsr_volume_remove(cl, name);
		if (rc < 0)
			goto fail;
	}
	printf("ok\n");
	ret = 0;
	goto out;
fail:
	fprintf(stderr, "hello_tessera: %s (%d)\n", tsr_strerror(rc), rc);
out:
	free(wbuf);
	free(rbuf);
	tsr_volume_close(vol);
	tsr_cluster_shutdown(cl);
	return ret;
}
