/*
 * blkbench: time reads and writes on a block device from inside a guest.
 *
 *   blkbench DEVICE MODE BLOCK_BYTES MAX_OPS MAX_SECONDS
 *
 * MODE is seqwrite, seqread or randread. Every access is BLOCK_BYTES long, aligned
 * to it, one at a time (queue depth 1) with O_DIRECT, so each one is a request the
 * VMM serves and none is answered from the guest's page cache. Sequential modes
 * wrap at the end of the device; randread picks block-aligned offsets with a fixed
 * xorshift sequence, the same under every VMM. The run stops after MAX_OPS
 * accesses or MAX_SECONDS, whichever comes first, and prints one line:
 *
 *   BLKBENCH mode=seqread block=1048576 ops=64 bytes=67108864 ns=123456789
 *
 * Built statically by the benchmark suite (busybox guests have no C library).
 * Exit status 1 with a message on stderr if the device can't be used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return x;
}

static int fail(const char *what, const char *device)
{
	fprintf(stderr, "blkbench: %s %s: %s\n", what, device, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: blkbench DEVICE seqwrite|seqread|randread "
			"BLOCK_BYTES MAX_OPS MAX_SECONDS\n");
		return 2;
	}
	const char *device = argv[1], *mode = argv[2];
	long block = atol(argv[3]), max_ops = atol(argv[4]);
	int64_t budget_ns = (int64_t)(atof(argv[5]) * 1e9);
	int writing = strcmp(mode, "seqwrite") == 0;
	int random_offsets = strcmp(mode, "randread") == 0;

	if (!writing && !random_offsets && strcmp(mode, "seqread") != 0) {
		fprintf(stderr, "blkbench: unknown mode %s\n", mode);
		return 2;
	}
	if (block < 512 || block % 512 || max_ops < 1 || budget_ns <= 0) {
		fprintf(stderr, "blkbench: BLOCK_BYTES must be a multiple of 512, "
			"MAX_OPS and MAX_SECONDS positive\n");
		return 2;
	}
	int fd = open(device, (writing ? O_WRONLY : O_RDONLY) | O_DIRECT);
	if (fd < 0)
		return fail("cannot open", device);
	uint64_t size = 0;
	if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			return fail("cannot size", device);
		size = (uint64_t)end;
	}
	uint64_t blocks = size / (uint64_t)block;
	if (blocks == 0) {
		fprintf(stderr, "blkbench: %s is smaller than one block\n", device);
		return 1;
	}
	void *buffer;
	if (posix_memalign(&buffer, 4096, (size_t)block) != 0) {
		fprintf(stderr, "blkbench: out of memory\n");
		return 1;
	}
	memset(buffer, 0xa5, (size_t)block);

	uint64_t state = 0x9e3779b97f4a7c15ULL, done_bytes = 0;
	long ops = 0;
	int64_t start = now_ns(), elapsed = 0;
	while (ops < max_ops && elapsed < budget_ns) {
		uint64_t index = random_offsets ? next_random(&state) % blocks
						: (uint64_t)ops % blocks;
		off_t offset = (off_t)(index * (uint64_t)block);
		ssize_t moved = writing ? pwrite(fd, buffer, (size_t)block, offset)
					: pread(fd, buffer, (size_t)block, offset);
		if (moved != block) {
			if (moved >= 0)
				errno = EIO;
			return fail(writing ? "short write to" : "short read from", device);
		}
		done_bytes += (uint64_t)moved;
		ops++;
		elapsed = now_ns() - start;
	}
	if (writing && fdatasync(fd) != 0)
		return fail("cannot flush", device);
	elapsed = now_ns() - start;
	printf("BLKBENCH mode=%s block=%ld ops=%ld bytes=%llu ns=%lld\n", mode, block, ops,
	       (unsigned long long)done_bytes, (long long)elapsed);
	close(fd);
	free(buffer);
	return 0;
}
