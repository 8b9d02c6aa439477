/*
 * pft-anonthrash MB [PAGES_PER_SEC [ORDER]]
 *
 * Test fault generator for pagefault-triage: maps MB megabytes of private
 * anonymous memory, fills every page with non-zero data (zero-filled pages
 * would not be written to swap by newer kernels), then reads one byte per page
 * forever. Run inside a memory cgroup whose limit is below MB, with swap on, it
 * swaps in constantly: major faults on anonymous memory, pswpin rising.
 *
 * Pages are visited in a scattered order (a fixed stride coprime with the page
 * count), so swap readahead cannot turn most faults into minor ones.
 *
 * ORDER "seq" visits the pages in address order instead: swap readahead then
 * reads up to 2^vm.page-cluster pages per major fault, and the pages it brought
 * in are minor faults, so pswpin grows several times faster than majflt (as
 * for a real program scanning its swapped-out memory).
 *
 * PAGES_PER_SEC (optional, 0 = unlimited) paces the reads.
 *
 * Prints "ready <pid>" on stdout once the memory is touched. Exits 0 on
 * SIGTERM/SIGINT, and by itself when its parent goes away.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "generator.h"

int main(int argc, char **argv)
{
	unsigned char *map;
	size_t mb, size, page, npages, step, idx, i;
	unsigned long rate = 0, n = 0;
	struct timespec t0;
	pid_t parent;

	if (argc < 2 || argc > 4 || (mb = strtoul(argv[1], NULL, 10)) == 0 ||
	    (argc == 4 && strcmp(argv[3], "seq") != 0 && strcmp(argv[3], "scattered") != 0)) {
		fprintf(stderr, "usage: %s MB [PAGES_PER_SEC [seq|scattered]]\n", argv[0]);
		return 2;
	}
	if (argc >= 3)
		rate = strtoul(argv[2], NULL, 10);
	install_handlers();
	parent = getppid();
	page = (size_t)sysconf(_SC_PAGESIZE);
	size = mb * 1024 * 1024;
	npages = size / page;

	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		fprintf(stderr, "mmap %zu MB: %s\n", mb, strerror(errno));
		return 1;
	}
	/* Keep transparent huge pages out: we want one fault per 4 KiB page. */
	madvise(map, size, MADV_NOHUGEPAGE);
	for (i = 0; i < npages && !stop_requested; i++)
		memset(map + i * page, (int)((i % 251) + 1), page);

	/* A stride of about 1/7 of the pages, coprime with npages, visits every page once per pass. */
	step = npages / 7 + 1;
	while (gcd(step, npages) != 1)
		step++;
	if (argc == 4 && strcmp(argv[3], "seq") == 0)
		step = 1;

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
	return 0;
}
