/*
 * weft_native: the one thing Node's net module cannot do for Weft — open a listening TCP socket
 * with IP_TRANSPARENT (so TPROXY can hand it connections addressed to other hosts) and
 * SO_REUSEPORT. Node then adopts the fd with server.listen({ fd }).
 *
 * The few N-API functions used are declared here rather than taken from node_api.h: the N-API
 * ABI is stable, and this way a machine without Node headers still builds the addon with plain cc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
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
  }
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, code, msg);
  return NULL;
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
  if (port < 0 || port > 65535) {
    napi_throw_error(env, "EINVAL", "listenTransparent: port out of range");
    return NULL;
  }

  struct sockaddr_storage ss;
  socklen_t ss_len;
  int family;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    family = AF_INET;
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    ss_len = sizeof *in4;
  } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    family = AF_INET6;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    ss_len = sizeof *in6;
  } else {
    napi_throw_error(env, "EINVAL", "listenTransparent: host must be a literal IPv4 or IPv6 address");
    return NULL;
  }

  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  const char *step = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) step = "setsockopt(SO_REUSEADDR)";
  else if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) step = "setsockopt(SO_REUSEPORT)";
  else if (family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one) != 0) step = "setsockopt(IP_TRANSPARENT) (needs CAP_NET_ADMIN)";
  else if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof one) != 0) step = "setsockopt(IPV6_TRANSPARENT) (needs CAP_NET_ADMIN)";
  else if (bind(fd, (struct sockaddr *)&ss, ss_len) != 0) step = "bind";
  else if (listen(fd, backlog > 0 ? backlog : 511) != 0) step = "listen";
  if (step != NULL) {
    int err = errno;
    close(fd);
    return throw_errno(env, step, err);
  }
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
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

static void export_fn(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, strlen(name), cb, NULL, &fn) == 0) napi_set_named_property(env, exports, name, fn);
}

/* The symbol Node looks up when loading an N-API addon (what NAPI_MODULE_INIT expands to). */
__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  export_fn(env, exports, "listenTransparent", listen_transparent);
  export_fn(env, exports, "isTransparent", is_transparent);
  return exports;
}

/* Declares the N-API version this addon was written against (Node >= 20 asks for it). */
__attribute__((visibility("default"))) int32_t node_api_module_get_api_version_v1(void) {
  return 8;
}
