/*
 * pft-filereader FILE [PAGES_PER_SEC [populate]]
 *
 * Test fault generator for pagefault-triage: maps FILE read-only and shared,
 * reads one byte per page, then drops both its page-table entries
 * (madvise MADV_DONTNEED) and the file's page cache (posix_fadvise
 * POSIX_FADV_DONTNEED), so every pass major-faults again: the pages come back
 * from disk through the file mapping.
 *
 * MADV_RANDOM switches readahead off, so each page is one major fault.
 * PAGES_PER_SEC (optional, 0 = unlimited) paces the reads.
 *
 * "populate" faults each page in with madvise(MADV_POPULATE_READ) instead of
 * reading it: the kernel takes the major fault on the process's behalf
 * (get_user_pages), which counts in its majflt and in pgmajfault but fires no
 * perf major-faults event.
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

int main(int argc, char **argv)
{
	const char *path;
	unsigned long rate = 0, done = 0;
	struct stat st;
	struct timespec t0;
	unsigned char *map;
	size_t size, off, page;
	pid_t parent;
	int fd, populate = 0;

	if (argc < 2 || argc > 4 || (argc == 4 && strcmp(argv[3], "populate") != 0)) {
		fprintf(stderr, "usage: %s FILE [PAGES_PER_SEC [populate]]\n", argv[0]);
		return 2;
	}
	path = argv[1];
	if (argc >= 3)
		rate = strtoul(argv[2], NULL, 10);
	populate = argc == 4;
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
	size = (size_t)st.st_size;
	page = (size_t)sysconf(_SC_PAGESIZE);
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (madvise(map, size, MADV_RANDOM) != 0)
		fprintf(stderr, "madvise(MADV_RANDOM): %s\n", strerror(errno));
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

	printf("ready %ld\n", (long)getpid());
	fflush(stdout);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_requested) {
		for (off = 0; off < size && !stop_requested; off += page) {
			if (populate) {
				if (madvise(map + off, page, MADV_POPULATE_READ) != 0) {
					fprintf(stderr, "madvise(MADV_POPULATE_READ): %s\n", strerror(errno));
					return 1;
				}
			} else {
				sink = map[off];
			}
			done++;
			if ((done & 1023) == 0 && getppid() != parent)
				stop_requested = 1;
			pace(rate, done, &t0);
		}
		madvise(map, size, MADV_DONTNEED);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (getppid() != parent)
			break;
	}
	munmap(map, size);
	close(fd);
	return 0;
}
