/*
 * mdwe-exec PROGRAM ARGS...: runs PROGRAM with the kernel's memory-deny-write-execute rule on
 * (prctl PR_SET_MDWE, Linux >= 6.3), the rule systemd's MemoryDenyWriteExecute=yes applies. The rule
 * is inherited across execve, so PROGRAM runs under it from its first instruction.
 * Exits 3 when the kernel does not know the prctl.
 */
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: mdwe-exec PROGRAM [ARGS...]\n");
    return 2;
  }
  if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0) {
    perror("prctl(PR_SET_MDWE)");
    return 3;
  }
  execv(argv[1], argv + 1);
  perror("execv");
  return 4;
}
