/*
 * weft_native: what Node's net module cannot do for Weft — open a listening TCP socket with
 * IP_TRANSPARENT (so TPROXY can hand it connections addressed to other hosts) and SO_REUSEPORT;
 * open listening and connecting sockets inside another network namespace (in-pod capture: setns on
 * the calling thread, socket(), setns back — a socket stays in the namespace it was born in);
 * read a namespace's inode and IPv4 addresses; read SO_ORIGINAL_DST of a REDIRECTed connection;
 * and (malloc-trim.c) give the C heap's free pages back.
 * Node then adopts the fds with server.listen({ fd }) / new net.Socket({ fd }).
 *
 * The few N-API functions used are declared here rather than taken from node_api.h: the N-API
 * ABI is stable, and this way a machine without Node headers still builds the addon with plain cc.
 */
#define _GNU_SOURCE /* setns */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netfilter_ipv4.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

/* ---- N-API, self-declared (js_native_api.h / node_api.h, ABI version 1) ---- */
typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* 0 == napi_ok */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);

extern napi_status napi_create_function(napi_env env, const char *name, size_t length, napi_callback cb, void *data, napi_value *result);
extern napi_status napi_set_named_property(napi_env env, napi_value object, const char *name, napi_value value);
extern napi_status napi_get_cb_info(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *this_arg, void **data);
extern napi_status napi_get_value_string_utf8(napi_env env, napi_value value, char *buf, size_t bufsize, size_t *result);
extern napi_status napi_get_value_int32(napi_env env, napi_value value, int32_t *result);
extern napi_status napi_get_value_bool(napi_env env, napi_value value, bool *result);
extern napi_status napi_create_int32(napi_env env, int32_t value, napi_value *result);
extern napi_status napi_get_boolean(napi_env env, bool value, napi_value *result);
extern napi_status napi_throw_error(napi_env env, const char *code, const char *msg);
extern napi_status napi_create_double(napi_env env, double value, napi_value *result);
extern napi_status napi_create_string_utf8(napi_env env, const char *str, size_t length, napi_value *result);
extern napi_status napi_create_array(napi_env env, napi_value *result);
extern napi_status napi_set_element(napi_env env, napi_value object, uint32_t index, napi_value value);
extern napi_status napi_create_object(napi_env env, napi_value *result);

/* Throws an Error whose code is the errno name Node would use, so callers branch on err.code. */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  const char *code = "ENATIVE";
  switch (err) {
    case EPERM: code = "EPERM"; break;
    case EACCES: code = "EACCES"; break;
    case EADDRINUSE: code = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: code = "EADDRNOTAVAIL"; break;
    case EINVAL: code = "EINVAL"; break;
    case EAFNOSUPPORT: code = "EAFNOSUPPORT"; break;
    case EBADF: code = "EBADF"; break;
    case ENOTSOCK: code = "ENOTSOCK"; break;
    case EMFILE: code = "EMFILE"; break;
    case ENOENT: code = "ENOENT"; break;
    case ENOTCONN: code = "ENOTCONN"; break;
    case ENOPROTOOPT: code = "ENOPROTOOPT"; break;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
}

/* Parses a literal IPv4/IPv6 address and port into ss; returns the family or 0. */
static int parse_addr(const char *host, int32_t port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return AF_INET6;
  }
  return 0;
}

/* Opens a non-blocking listening socket in the calling thread's netns; -1 with *step set on failure (errno kept). */
static int open_listener(int family, const struct sockaddr_storage *ss, socklen_t ss_len, int32_t backlog, bool reuse_port, bool transparent, const char **step) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { *step = "socket"; return -1; }
  int one = 1;
  *step = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) *step = "setsockopt(SO_REUSEADDR)";
  else if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) *step = "setsockopt(SO_REUSEPORT)";
  else if (transparent && family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one) != 0) *step = "setsockopt(IP_TRANSPARENT) (needs CAP_NET_ADMIN)";
  else if (transparent && family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof one) != 0) *step = "setsockopt(IPV6_TRANSPARENT) (needs CAP_NET_ADMIN)";
  else if (bind(fd, (const struct sockaddr *)ss, ss_len) != 0) *step = "bind";
  else if (listen(fd, backlog > 0 ? backlog : 511) != 0) *step = "listen";
  if (*step != NULL) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

/*
 * Moves the calling thread into the netns at path; *home receives an fd of the thread's own netns
 * to come back with. On failure nothing changed and errno tells why. Network namespaces may be
 * entered by one thread of a multi-threaded process (unlike mount or user namespaces).
 */
static int enter_netns(const char *path, int *home) {
  *home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (*home < 0) return -1;
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    close(*home);
    errno = err;
    return -1;
  }
  int rc = setns(target, CLONE_NEWNET);
  int err = errno;
  close(target);
  if (rc != 0) {
    close(*home);
    errno = err;
    return -1;
  }
  return 0;
}

/* Returns the thread to its own netns. A thread that cannot go back would open every later socket
 * in a pod's namespace: that is not recoverable, so the process stops loudly. */
static void leave_netns(int home) {
  if (setns(home, CLONE_NEWNET) != 0) {
    fprintf(stderr, "weft_native: cannot return to the agent's network namespace (%s); aborting\n", strerror(errno));
    abort();
  }
  close(home);
}

/* The netns could not be opened or entered: code ENETNS, the path and errno in the message. */
static napi_value throw_netns(napi_env env, const char *path, int err) {
  char msg[4200];
  snprintf(msg, sizeof msg, "network namespace %.4000s: %s (errno %d)", path, strerror(err), err);
  napi_throw_error(env, "ENETNS", msg);
  return NULL;
}

/* The address a listener binds: the port checked and the host parsed. Throws EINVAL naming `fn`
 * and returns 0 when either is bad; otherwise the address family. */
static int listen_address(napi_env env, const char *fn, const char *host, int32_t port, struct sockaddr_storage *ss, socklen_t *ss_len) {
  char msg[160];
  if (port < 0 || port > 65535) {
    snprintf(msg, sizeof msg, "%s: port out of range", fn);
    napi_throw_error(env, "EINVAL", msg);
    return 0;
  }
  int family = parse_addr(host, port, ss, ss_len);
  if (family == 0) {
    snprintf(msg, sizeof msg, "%s: host must be a literal IPv4 or IPv6 address", fn);
    napi_throw_error(env, "EINVAL", msg);
  }
  return family;
}

/* A file descriptor handed back to JavaScript. */
static napi_value fd_value(napi_env env, int fd) {
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

/* listenTransparent(host: string, port: number, backlog: number, reusePort: boolean): number */
static napi_value listen_transparent(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 4) {
    napi_throw_error(env, "EINVAL", "listenTransparent(host, port, backlog, reusePort) takes 4 arguments");
    return NULL;
  }
  char host[64];
  size_t host_len = 0;
  int32_t port = 0, backlog = 0;
  bool reuse_port = false;
  if (napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_len) != 0 ||
      napi_get_value_int32(env, argv[1], &port) != 0 ||
      napi_get_value_int32(env, argv[2], &backlog) != 0 ||
      napi_get_value_bool(env, argv[3], &reuse_port) != 0) {
    napi_throw_error(env, "EINVAL", "listenTransparent: expected (string, number, number, boolean)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t ss_len;
  int family = listen_address(env, "listenTransparent", host, port, &ss, &ss_len);
  if (family == 0) return NULL;
  const char *step = NULL;
  int fd = open_listener(family, &ss, ss_len, backlog, reuse_port, true, &step);
  if (fd < 0) return throw_errno(env, step, errno);
  return fd_value(env, fd);
}

/* listenInNetns(netnsPath, host, port, backlog, reusePort, transparent): number — the listener
 * lives in that netns (and accepts there) whatever thread later uses the fd. */
static napi_value listen_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  char path[4096], host[64];
  size_t len = 0;
  int32_t port = 0, backlog = 0;
  bool reuse_port = false, transparent = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 6 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != 0 ||
      napi_get_value_string_utf8(env, argv[1], host, sizeof host, &len) != 0 ||
      napi_get_value_int32(env, argv[2], &port) != 0 ||
      napi_get_value_int32(env, argv[3], &backlog) != 0 ||
      napi_get_value_bool(env, argv[4], &reuse_port) != 0 ||
      napi_get_value_bool(env, argv[5], &transparent) != 0) {
    napi_throw_error(env, "EINVAL", "listenInNetns: expected (netnsPath: string, host: string, port: number, backlog: number, reusePort: boolean, transparent: boolean)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t ss_len;
  int family = listen_address(env, "listenInNetns", host, port, &ss, &ss_len);
  if (family == 0) return NULL;
  int home;
  if (enter_netns(path, &home) != 0) return throw_netns(env, path, errno);
  const char *step = NULL;
  int fd = open_listener(family, &ss, ss_len, backlog, reuse_port, transparent, &step);
  int err = errno;
  leave_netns(home);
  if (fd < 0) return throw_errno(env, step, err);
  return fd_value(env, fd);
}

/* socketInNetns(netnsPath, mark): number — an unconnected non-blocking IPv4 TCP socket born in
 * that netns, with SO_MARK = mark (0: none) so the pod's capture rules let it through. */
static napi_value socket_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char path[4096];
  size_t len = 0;
  int32_t mark = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 2 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != 0 ||
      napi_get_value_int32(env, argv[1], &mark) != 0) {
    napi_throw_error(env, "EINVAL", "socketInNetns: expected (netnsPath: string, mark: number)");
    return NULL;
  }
  int home;
  if (enter_netns(path, &home) != 0) return throw_netns(env, path, errno);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = errno;
  leave_netns(home);
  if (fd < 0) return throw_errno(env, "socket", err);
  uint32_t m = (uint32_t)mark;
  if (m != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof m) != 0) {
    err = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_MARK) (needs CAP_NET_ADMIN)", err);
  }
  return fd_value(env, fd);
}

/* netnsInode(path): number — the namespace's identity (st_ino of its nsfs file). */
static napi_value netns_inode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != 0) {
    napi_throw_error(env, "EINVAL", "netnsInode: expected (path: string)");
    return NULL;
  }
  struct stat st;
  if (stat(path, &st) != 0) return throw_netns(env, path, errno);
  napi_value result;
  napi_create_double(env, (double)st.st_ino, &result);
  return result;
}

/* netnsIpv4(path): string[] — the IPv4 addresses of every interface in that netns (loopback too). */
static napi_value netns_ipv4(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != 0) {
    napi_throw_error(env, "EINVAL", "netnsIpv4: expected (path: string)");
    return NULL;
  }
  int home;
  if (enter_netns(path, &home) != 0) return throw_netns(env, path, errno);
  struct ifaddrs *list = NULL;
  int rc = getifaddrs(&list);
  int err = errno;
  leave_netns(home);
  if (rc != 0) return throw_errno(env, "getifaddrs", err);
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t n = 0;
  for (struct ifaddrs *a = list; a != NULL; a = a->ifa_next) {
    if (a->ifa_addr == NULL || a->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, buf, sizeof buf) == NULL) continue;
    napi_value v;
    napi_create_string_utf8(env, buf, strlen(buf), &v);
    napi_set_element(env, arr, n++, v);
  }
  freeifaddrs(list);
  return arr;
}

/* originalDst(fd): { ip, port } — the destination a REDIRECTed IPv4 connection was first sent to
 * (SO_ORIGINAL_DST, read from conntrack). */
static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != 0) {
    napi_throw_error(env, "EINVAL", "originalDst(fd) takes a file descriptor");
    return NULL;
  }
  struct sockaddr_in sin;
  socklen_t sl = sizeof sin;
  memset(&sin, 0, sizeof sin);
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &sin, &sl) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof buf);
  napi_value obj, ip, port;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, buf, strlen(buf), &ip);
  napi_create_int32(env, ntohs(sin.sin_port), &port);
  napi_set_named_property(env, obj, "ip", ip);
  napi_set_named_property(env, obj, "port", port);
  return obj;
}

/* isTransparent(fd: number): boolean — reads IP_TRANSPARENT (or IPV6_TRANSPARENT) back. */
static napi_value is_transparent(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != 0) {
    napi_throw_error(env, "EINVAL", "isTransparent(fd) takes a file descriptor");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return throw_errno(env, "getsockname", errno);
  int on = 0;
  socklen_t on_len = sizeof on;
  int rc = ss.ss_family == AF_INET6 ? getsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &on, &on_len)
                                    : getsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &on, &on_len);
  if (rc != 0) return throw_errno(env, "getsockopt(IP_TRANSPARENT)", errno);
  napi_value result;
  napi_get_boolean(env, on != 0, &result);
  return result;
}

/* malloc-trim.c */
napi_value weft_malloc_trim(napi_env env, napi_callback_info info);

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, strlen(name), cb, NULL, &fn) == 0) napi_set_named_property(env, exports, name, fn);
}

/* The symbol Node looks up when loading an N-API addon (what NAPI_MODULE_INIT expands to). */
__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  export_fn(env, exports, "listenTransparent", listen_transparent);
  export_fn(env, exports, "isTransparent", is_transparent);
  export_fn(env, exports, "listenInNetns", listen_in_netns);
  export_fn(env, exports, "socketInNetns", socket_in_netns);
  export_fn(env, exports, "netnsInode", netns_inode);
  export_fn(env, exports, "netnsIpv4", netns_ipv4);
  export_fn(env, exports, "originalDst", original_dst);
  export_fn(env, exports, "mallocTrim", weft_malloc_trim);
  return exports;
}

/* Declares the N-API version this addon was written against (Node >= 20 asks for it). */
__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) {
  return 8;
}
