/*
 * weft-cni: the chained CNI plugin that tells the node's Weft agent about pods (pod capture
 * scope). It relays the runtime's call to the agent's unix socket and prints what the agent
 * answers, so an ADD returns only once the agent has captured the pod: a meshed pod's containers
 * never start with their traffic unsteered. It parses nothing but its own environment:
 *   request:  CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS as KEY=VALUE lines,
 *             a blank line, then the plugin's stdin (the network configuration with prevResult);
 *   reply:    "OK\n" or "ERR\n", then the bytes to print (the result, or a CNI error object).
 * VERSION is answered here; a DEL with no agent listening succeeds (the pod is going anyway, and
 * the agent releases vanished namespaces when it next scans). Built static by
 * scripts/build-native.sh, so it runs on any node whatever its libc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_INPUT (1 << 20)
#define DEFAULT_SOCKET "/var/run/weft/cni.sock"
#define REPLY_TIMEOUT_S 120

static char version[32] = "1.0.0";

/* Prints a CNI error object (code 999: plugin-specific) and exits 1. */
static void fail(const char *msg, const char *details) {
  printf("{\"cniVersion\":\"%s\",\"code\":999,\"msg\":\"%s\",\"details\":\"", version, msg);
  for (const char *p = details; p != NULL && *p != '\0'; p++) {
    if (*p == '"' || *p == '\\') putchar('\\');
    if ((unsigned char)*p >= 0x20) putchar(*p);
  }
  printf("\"}\n");
  exit(1);
}

/* Reads the cniVersion string out of the configuration (for error objects only). */
static void find_version(const char *conf) {
  const char *k = strstr(conf, "\"cniVersion\"");
  if (k == NULL) return;
  const char *q = strchr(k + 12, '"');
  if (q == NULL) return;
  const char *e = strchr(q + 1, '"');
  if (e == NULL || e - q - 1 <= 0 || (size_t)(e - q - 1) >= sizeof version) return;
  for (const char *c = q + 1; c < e; c++) if (!((*c >= '0' && *c <= '9') || *c == '.')) return;
  memcpy(version, q + 1, (size_t)(e - q - 1));
  version[e - q - 1] = '\0';
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int send_env(int fd, const char *key) {
  const char *v = getenv(key);
  if (v == NULL) v = "";
  if (strchr(v, '\n') != NULL) fail("weft-cni: a CNI variable holds a newline", key);
  return write_all(fd, key, strlen(key)) || write_all(fd, "=", 1) || write_all(fd, v, strlen(v)) || write_all(fd, "\n", 1);
}

int main(void) {
  const char *cmd = getenv("CNI_COMMAND");
  if (cmd == NULL) fail("weft-cni: CNI_COMMAND is not set", "run by a container runtime as a chained CNI plugin");
  if (strcmp(cmd, "VERSION") == 0) {
    printf("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n");
    return 0;
  }
  static char input[MAX_INPUT + 1];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(0, input + len, MAX_INPUT - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("weft-cni: cannot read the network configuration", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
    if (len == MAX_INPUT) fail("weft-cni: network configuration too large", "over 1 MiB");
  }
  input[len] = '\0';
  find_version(input);
  const int is_del = strcmp(cmd, "DEL") == 0;

  const char *path = getenv("WEFT_CNI_SOCKET");
  if (path == NULL || *path == '\0') path = DEFAULT_SOCKET;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr.sun_path) fail("weft-cni: socket path too long", path);
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("weft-cni: socket", strerror(errno));
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (is_del) return 0;
    char why[512];
    snprintf(why, sizeof why, "%s: %s (is the weft agent running on this node?)", path, strerror(errno));
    fail("weft-cni: the weft agent is not reachable; the pod cannot be captured", why);
  }
  if (send_env(fd, "CNI_COMMAND") || send_env(fd, "CNI_CONTAINERID") || send_env(fd, "CNI_NETNS") ||
      send_env(fd, "CNI_IFNAME") || send_env(fd, "CNI_ARGS") || write_all(fd, "\n", 1) || write_all(fd, input, len)) {
    if (is_del) return 0;
    fail("weft-cni: writing to the weft agent failed", strerror(errno));
  }
  shutdown(fd, SHUT_WR);
  struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S, .tv_usec = 0 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  static char reply[MAX_INPUT + 1];
  size_t got = 0;
  for (;;) {
    ssize_t n = read(fd, reply + got, MAX_INPUT - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (is_del) return 0;
      fail("weft-cni: no answer from the weft agent", strerror(errno));
    }
    if (n == 0 || got + (size_t)n == MAX_INPUT) { got += (size_t)(n > 0 ? n : 0); break; }
    got += (size_t)n;
  }
  reply[got] = '\0';
  close(fd);
  if (got >= 3 && memcmp(reply, "OK\n", 3) == 0) {
    fwrite(reply + 3, 1, got - 3, stdout);
    return 0;
  }
  if (got >= 4 && memcmp(reply, "ERR\n", 4) == 0) {
    fwrite(reply + 4, 1, got - 4, stdout);
    return 1;
  }
  if (is_del) return 0;
  fail("weft-cni: the weft agent's answer is not understood", "expected OK or ERR");
  return 1;
}
