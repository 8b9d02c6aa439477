/*
 * Shared by the test fault generators: stop on a signal or when the parent
 * (the test run) goes away, pace the page reads, and pick a scattered page order.
 */
#ifndef PFT_GENERATOR_H
#define PFT_GENERATOR_H

#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested = 0;
/* Reads go here so the compiler cannot drop them. */
static volatile unsigned char sink;

static inline void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static inline void install_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* Sleeps until `done` reads are due at `rate` per second since t0; rate 0 means as fast as possible. */
static inline void pace(unsigned long rate, unsigned long done, const struct timespec *t0)
{
	struct timespec now, ts;
	double due, elapsed;
	if (rate == 0)
		return;
	due = (double)done / (double)rate;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
	if (due > elapsed) {
		double d = due - elapsed;
		ts.tv_sec = (time_t)d;
		ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static inline size_t gcd(size_t a, size_t b)
{
	while (b != 0) {
		size_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

#endif
