/* The sandbox ("pause") process of every pod on the test node: it holds the pod's namespaces, and
 * as PID 1 of a pod that shares its PID namespace it reaps orphans. It exits on SIGINT/SIGTERM.
 * Written for the node tier (tests/node); built static so its image is FROM scratch. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
}

int main(void) {
  struct sigaction q = {0}, r = {0};
  q.sa_handler = quit;
  r.sa_handler = reap;
  r.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGINT, &q, NULL) < 0 || sigaction(SIGTERM, &q, NULL) < 0 || sigaction(SIGCHLD, &r, NULL) < 0) return 1;
  for (;;) pause();
}
