/*
 * pft-codereread FILE [PAGES_PER_SEC [CHUNK_KB]]
 *
 * Test fault generator for pagefault-triage: maps FILE private with
 * PROT_READ|PROT_EXEC ("r-xp" lines in /proc/PID/maps, like program text),
 * reads one byte per page, then drops its page-table entries
 * (madvise MADV_DONTNEED) and the file's page cache (posix_fadvise
 * POSIX_FADV_DONTNEED), so every pass major-faults again in an executable
 * file mapping: what a node shows when memory pressure evicts code.
 *
 * The file is mapped as several VMAs of CHUNK_KB (default 1024) each, separated
 * by one PROT_NONE page, the way a loader maps segments. Measured on kernel
 * 6.18: readahead for an exec mapping is bounded by its VMA (up to
 * read_ahead_kb, 8 MB on a virtio disk) and ignores MADV_RANDOM, so one big
 * VMA gives one major fault per 8 MB; smaller VMAs give more faults.
 * PAGES_PER_SEC (optional, 0 = unlimited) paces the reads.
 *
 * Prints "ready <pid>" on stdout once set up. Exits 0 on SIGTERM/SIGINT, and
 * by itself when its parent goes away (so a crashed test leaves no stray).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "generator.h"

int main(int argc, char **argv)
{
	const char *path;
	unsigned long rate = 0, done = 0;
	struct stat st;
	struct timespec t0;
	unsigned char *base;
	size_t size, page, chunk, nchunks, stride, i, off;
	pid_t parent;
	int fd;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s FILE [PAGES_PER_SEC [CHUNK_KB]]\n", argv[0]);
		return 2;
	}
	path = argv[1];
	if (argc >= 3)
		rate = strtoul(argv[2], NULL, 10);
	page = (size_t)sysconf(_SC_PAGESIZE);
	chunk = 1024 * 1024;
	if (argc >= 4)
		chunk = (size_t)strtoul(argv[3], NULL, 10) * 1024;
	chunk = (chunk + page - 1) / page * page;
	if (chunk == 0)
		chunk = page;
	install_handlers();
	parent = getppid();

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fstat(fd, &st) != 0 || st.st_size <= 0) {
		fprintf(stderr, "%s: empty or unreadable\n", path);
		return 1;
	}
	size = (size_t)st.st_size / page * page;
	if (size == 0) {
		fprintf(stderr, "%s: smaller than a page\n", path);
		return 1;
	}
	if (chunk > size)
		chunk = size;
	nchunks = (size + chunk - 1) / chunk;
	stride = chunk + page;

	/* Reserve the whole range, then map each chunk over it with a guard page after it. */
	base = mmap(NULL, nchunks * stride, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		fprintf(stderr, "mmap reserve: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < nchunks; i++) {
		size_t len = (i + 1 == nchunks) ? size - i * chunk : chunk;
		void *want = base + i * stride;
		void *got = mmap(want, len, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd,
				 (off_t)(i * chunk));
		if (got == MAP_FAILED) {
			fprintf(stderr, "mmap %s PROT_EXEC: %s\n", path, strerror(errno));
			return 1;
		}
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

	printf("ready %ld\n", (long)getpid());
	fflush(stdout);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_requested) {
		for (i = 0; i < nchunks && !stop_requested; i++) {
			size_t len = (i + 1 == nchunks) ? size - i * chunk : chunk;
			unsigned char *c = base + i * stride;
			for (off = 0; off < len && !stop_requested; off += page) {
				sink = c[off];
				done++;
				if ((done & 1023) == 0 && getppid() != parent)
					stop_requested = 1;
				pace(rate, done, &t0);
			}
		}
		for (i = 0; i < nchunks; i++) {
			size_t len = (i + 1 == nchunks) ? size - i * chunk : chunk;
			madvise(base + i * stride, len, MADV_DONTNEED);
		}
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (getppid() != parent)
			break;
	}
	munmap(base, nchunks * stride);
	close(fd);
	return 0;
}
