/*
 * mallocTrim(): gives the C heap's free pages back to the kernel (glibc's malloc_trim(0)), for the
 * agent's periodic trim (agent/memory-reclaim.ts). glibc returns memory on free() only from the top
 * of an arena; the pages of free chunks in the middle stay resident until malloc_trim. A connection
 * ramp leaves many such holes (socket read buffers are malloc'd at 64 KiB and shrunk to the bytes
 * read): 18 MiB of an agent holding 10 000 idle connections (docs/design-notes.md, issue 19).
 * Elsewhere than glibc (musl) there is nothing to call: it answers false.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h> /* defines __GLIBC__ on glibc */
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
extern napi_status napi_get_boolean(napi_env env, bool value, napi_value *result);

/* mallocTrim(): boolean — true when memory was given back (false: none, or not glibc). */
napi_value weft_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#ifdef __GLIBC__
  released = malloc_trim(0) == 1;
#endif
  napi_value result;
  napi_get_boolean(env, released, &result);
  return result;
}
