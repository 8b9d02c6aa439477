/*
 * pft-shmthrash PATH MB [PAGES_PER_SEC]
 *
 * Test fault generator for pagefault-triage: creates PATH (meant to be under
 * /dev/shm, i.e. tmpfs), sizes it to MB megabytes, maps it shared read/write,
 * fills every page with non-zero data, then reads one byte per page forever.
 * The pages are shmem: run inside a memory cgroup whose limit is below MB, with
 * swap on, they are swapped out and every read of an evicted page is a swap-in
 * (a major fault with pswpin rising), although /proc/PID/maps names a file.
 *
 * Pages are visited in a scattered order (a fixed stride coprime with the page
 * count), so swap readahead cannot turn most faults into minor ones.
 *
 * PAGES_PER_SEC (optional, 0 = unlimited) paces the reads.
 *
 * Prints "ready <pid>" on stdout once the memory is touched. Exits 0 on
 * SIGTERM/SIGINT, and by itself when its parent goes away; it unlinks PATH on
 * the way out.
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
	unsigned char *map;
	int fd;
	size_t mb, size, page, npages, step, idx, i;
	unsigned long rate = 0, n = 0;
	struct timespec t0;
	pid_t parent;

	if (argc < 3 || argc > 4 || (mb = strtoul(argv[2], NULL, 10)) == 0) {
		fprintf(stderr, "usage: %s PATH MB [PAGES_PER_SEC]\n", argv[0]);
		return 2;
	}
	path = argv[1];
	if (argc == 4)
		rate = strtoul(argv[3], NULL, 10);
	install_handlers();
	parent = getppid();
	page = (size_t)sysconf(_SC_PAGESIZE);
	size = mb * 1024 * 1024;
	npages = size / page;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		fprintf(stderr, "ftruncate %s: %s\n", path, strerror(errno));
		unlink(path);
		return 1;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap %s: %s\n", path, strerror(errno));
		unlink(path);
		return 1;
	}
	/* Keep huge pages out (tmpfs may be mounted huge=): one fault per 4 KiB page. */
	madvise(map, size, MADV_NOHUGEPAGE);
	for (i = 0; i < npages && !stop_requested; i++)
		memset(map + i * page, (int)((i % 251) + 1), page);

	/* A stride of about 1/7 of the pages, coprime with npages, visits every page once per pass. */
	step = npages / 7 + 1;
	while (gcd(step, npages) != 1)
		step++;

	printf("ready %ld\n", (long)getpid());
	fflush(stdout);

	idx = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_requested) {
		sink = map[idx * page];
		idx = (idx + step) % npages;
		if ((++n & 1023) == 0 && getppid() != parent)
			break;
		pace(rate, n, &t0);
	}
	munmap(map, size);
	close(fd);
	unlink(path);
	return 0;
}
