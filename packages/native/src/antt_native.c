/*
 * @antt/native: the two hot paths Node 20's own APIs make expensive, as a small Node-API addon.
 *
 * 1. AEAD into the caller's buffers. node:crypto builds a cipher object and a fresh output buffer for
 *    every message (~10 us per 1200-byte datagram). Here a key's EVP_CIPHER_CTX is set up once and each
 *    message only sets the nonce, so a datagram costs about a microsecond. The cipher is the OpenSSL
 *    that Node itself is linked with (its symbols are exported to addons): the same implementation
 *    node:crypto uses, not a new one.
 * 2. Many datagrams in one system call. dgram sends one datagram per sendmsg(). sendBatch() hands a
 *    burst to the kernel with one sendmmsg(), and on Linux groups equal-sized datagrams to one address
 *    into UDP GSO super-datagrams (UDP_SEGMENT), which the kernel (or the NIC) splits on the way out.
 *
 * 3. Many datagrams per wake-up on the receive side. dgram makes one recvmsg(), one fresh Buffer, one
 *    address object and one 'message' event per datagram. startReceiver() watches a dup of the socket
 *    with libuv and reads with recvmmsg() into one reused buffer, then calls back once per batch.
 *
 * Sealing and sending are synchronous and non-blocking and copy nothing from JS: the buffers are read in
 * place.
 */
#define _GNU_SOURCE /* sendmmsg, struct mmsghdr */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#ifdef __linux__
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define ANTT_HAVE_BATCH 1
#else
#define ANTT_HAVE_BATCH 0
#endif

#define TAG_BYTES 16
#define NONCE_BYTES 12
#define KEY_BYTES 32

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) return NULL;                                                             \
  } while (0)

static napi_value throw_error(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value make_int(napi_env env, int64_t value) {
  napi_value result;
  if (napi_create_int64(env, value, &result) != napi_ok) return NULL;
  return result;
}

/* The data and length of a typed array of type `want` (a Uint8Array also as Uint8ClampedArray). */
static int typed_info(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want || (want == napi_uint8_array && type == napi_uint8_clamped_array);
}

/* The bytes of a Uint8Array (or Buffer) argument; false when it is not one. */
static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  return typed_info(env, value, napi_uint8_array, (void **)data, length);
}

/* ---- AEAD ------------------------------------------------------------------------------------ */

typedef struct {
  EVP_CIPHER_CTX *ctx;
  int encrypt;
} aead_t;

static void aead_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_t *aead = (aead_t *)data;
  EVP_CIPHER_CTX_free(aead->ctx);
  free(aead);
}

/* createAead(cipher: 0 = AES-256-GCM | 1 = ChaCha20-Poly1305, key: Uint8Array(32), encrypt: boolean) */
static napi_value create_aead(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) return throw_error(env, "ERR_INVALID_ARG", "createAead(cipher, key, encrypt)");
  int32_t which = -1;
  napi_get_value_int32(env, argv[0], &which);
  uint8_t *key = NULL;
  size_t key_length = 0;
  if (!bytes_of(env, argv[1], &key, &key_length) || key_length != KEY_BYTES)
    return throw_error(env, "ERR_INVALID_ARG", "the key must be a 32-byte Uint8Array");
  bool encrypt = false;
  napi_get_value_bool(env, argv[2], &encrypt);
  const EVP_CIPHER *cipher =
      which == 0 ? EVP_aes_256_gcm() : which == 1 ? EVP_chacha20_poly1305() : NULL;
  if (cipher == NULL) return throw_error(env, "ERR_INVALID_ARG", "cipher 0 (AES-256-GCM) or 1 (ChaCha20-Poly1305)");
  aead_t *aead = (aead_t *)calloc(1, sizeof(aead_t));
  if (aead == NULL) return throw_error(env, "ERR_NO_MEMORY", "out of memory");
  aead->ctx = EVP_CIPHER_CTX_new();
  aead->encrypt = encrypt ? 1 : 0;
  if (aead->ctx == NULL || EVP_CipherInit_ex(aead->ctx, cipher, NULL, NULL, NULL, aead->encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_BYTES, NULL) != 1 ||
      EVP_CipherInit_ex(aead->ctx, NULL, NULL, key, NULL, aead->encrypt) != 1) {
    EVP_CIPHER_CTX_free(aead->ctx);
    free(aead);
    return throw_error(env, "ERR_CRYPTO", "OpenSSL could not set up the cipher");
  }
  napi_value external;
  if (napi_create_external(env, aead, aead_finalize, NULL, &external) != napi_ok) {
    EVP_CIPHER_CTX_free(aead->ctx);
    free(aead);
    return NULL;
  }
  return external;
}

/*
 * seal(aead, nonce, aad, plaintext, out, offset) -> plaintext.length + 16: writes ciphertext || tag at
 * out[offset]. open(aead, nonce, aad, sealed, out, offset) -> plaintext length, or -1 when the tag does
 * not verify. `out` may alias the input exactly (in place); a shifted overlap is the caller's to avoid.
 */
static napi_value aead_run(napi_env env, napi_callback_info info, int encrypt) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) return throw_error(env, "ERR_INVALID_ARG", "(aead, nonce, aad, input, out, offset)");
  aead_t *aead = NULL;
  if (napi_get_value_external(env, argv[0], (void **)&aead) != napi_ok || aead == NULL ||
      aead->encrypt != encrypt)
    return throw_error(env, "ERR_INVALID_ARG", "not a key for this direction");
  uint8_t *nonce, *aad, *input, *out;
  size_t nonce_length, aad_length, input_length, out_length;
  if (!bytes_of(env, argv[1], &nonce, &nonce_length) || nonce_length != NONCE_BYTES ||
      !bytes_of(env, argv[2], &aad, &aad_length) || !bytes_of(env, argv[3], &input, &input_length) ||
      !bytes_of(env, argv[4], &out, &out_length))
    return throw_error(env, "ERR_INVALID_ARG", "nonce (12 bytes), aad, input and out are Uint8Arrays");
  int64_t offset = -1;
  napi_get_value_int64(env, argv[5], &offset);
  if (!encrypt && input_length < TAG_BYTES) return make_int(env, -1);
  size_t body = encrypt ? input_length : input_length - TAG_BYTES;
  size_t written = encrypt ? input_length + TAG_BYTES : body;
  if (offset < 0 || (uint64_t)offset + written > out_length || body > INT32_MAX)
    return throw_error(env, "ERR_OUT_OF_RANGE", "out is too short");
  uint8_t *target = out + offset;
  EVP_CIPHER_CTX *ctx = aead->ctx;
  int length = 0;
  if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, encrypt) != 1)
    return throw_error(env, "ERR_CRYPTO", "OpenSSL rejected the nonce");
  if (aad_length > 0 && EVP_CipherUpdate(ctx, NULL, &length, aad, (int)aad_length) != 1)
    return throw_error(env, "ERR_CRYPTO", "OpenSSL rejected the associated data");
  if (encrypt) {
    if (body > 0 && EVP_CipherUpdate(ctx, target, &length, input, (int)body) != 1)
      return throw_error(env, "ERR_CRYPTO", "OpenSSL could not encrypt");
    if (EVP_CipherFinal_ex(ctx, target + body, &length) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, target + body) != 1)
      return throw_error(env, "ERR_CRYPTO", "OpenSSL could not finish the tag");
    return make_int(env, (int64_t)written);
  }
  /* The tag is copied out first: opening in place overwrites the ciphertext but never the tag. */
  uint8_t tag[TAG_BYTES];
  memcpy(tag, input + body, TAG_BYTES);
  if (body > 0 && EVP_CipherUpdate(ctx, target, &length, input, (int)body) != 1) return make_int(env, -1);
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, tag) != 1) return make_int(env, -1);
  if (EVP_CipherFinal_ex(ctx, target + body, &length) != 1) return make_int(env, -1);
  return make_int(env, (int64_t)body);
}

static napi_value aead_seal(napi_env env, napi_callback_info info) { return aead_run(env, info, 1); }
static napi_value aead_open(napi_env env, napi_callback_info info) { return aead_run(env, info, 0); }

/* ---- batched UDP sends ----------------------------------------------------------------------- */

#if ANTT_HAVE_BATCH
#define MAX_BATCH 256
/* One GSO super-datagram stays under the 64 KiB IP datagram limit. */
#define MAX_GSO_BYTES 65000
#define MAX_GSO_SEGMENTS 64

/* socketAddress(host, port) -> Buffer holding a sockaddr_in / sockaddr_in6, or null when not an IP. */
static napi_value socket_address(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char host[64];
  size_t host_length = 0;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], host, sizeof host, &host_length) != napi_ok)
    return throw_error(env, "ERR_INVALID_ARG", "socketAddress(host, port)");
  uint32_t port = 0;
  napi_get_value_uint32(env, argv[1], &port);
  napi_value result;
  void *data;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
  memset(&v4, 0, sizeof v4);
  memset(&v6, 0, sizeof v6);
  if (port <= 65535 && inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons((uint16_t)port);
    CHECK(napi_create_buffer_copy(env, sizeof v4, &v4, &data, &result));
    return result;
  }
  char *zone = strchr(host, '%');
  if (zone != NULL) *zone = '\0'; /* scoped addresses are left to dgram */
  if (zone == NULL && port <= 65535 && inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons((uint16_t)port);
    CHECK(napi_create_buffer_copy(env, sizeof v6, &v6, &data, &result));
    return result;
  }
  CHECK(napi_get_null(env, &result));
  return result;
}

/*
 * sendBatch(fd, address, datagrams: Uint8Array[], count, gso: boolean) -> datagrams the kernel took
 * (0..count; the rest are the caller's to send another way), or -errno when it took none and the error
 * is not EAGAIN. With gso, each run of equal-sized datagrams (the last of a run may be shorter) goes
 * as one message with UDP_SEGMENT; without, one message per datagram. One sendmmsg() either way.
 */
static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_error(env, "ERR_INVALID_ARG", "sendBatch(fd, address, datagrams, count, gso)");
  int32_t fd = -1;
  napi_get_value_int32(env, argv[0], &fd);
  uint8_t *address;
  size_t address_length;
  if (fd < 0 || !bytes_of(env, argv[1], &address, &address_length) ||
      (address_length != sizeof(struct sockaddr_in) && address_length != sizeof(struct sockaddr_in6)))
    return throw_error(env, "ERR_INVALID_ARG", "a socket descriptor and an address from socketAddress()");
  uint32_t count = 0;
  napi_get_value_uint32(env, argv[3], &count);
  if (count > MAX_BATCH) count = MAX_BATCH;
  bool gso = false;
  napi_get_value_bool(env, argv[4], &gso);

  struct iovec iov[MAX_BATCH];
  struct mmsghdr messages[MAX_BATCH];
  /* A control buffer per message, room for one UDP_SEGMENT cmsg. */
  union {
    char buffer[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control[MAX_BATCH];
  /* How many datagrams each message carries. */
  uint16_t carried[MAX_BATCH];
  uint32_t message_count = 0;
  uint32_t i = 0;
  while (i < count) {
    napi_value element;
    CHECK(napi_get_element(env, argv[2], i, &element));
    uint8_t *data;
    size_t length;
    if (!bytes_of(env, element, &data, &length) || length == 0 || length > 65507)
      return throw_error(env, "ERR_INVALID_ARG", "each datagram is a Uint8Array of 1..65507 bytes");
    struct mmsghdr *message = &messages[message_count];
    memset(message, 0, sizeof *message);
    message->msg_hdr.msg_name = address;
    message->msg_hdr.msg_namelen = (socklen_t)address_length;
    message->msg_hdr.msg_iov = &iov[i];
    iov[i].iov_base = data;
    iov[i].iov_len = length;
    uint32_t segments = 1;
    size_t total = length;
    i++;
    if (gso) {
      /* Extend the run while the next datagram is no larger than this one's size and fits. */
      while (i < count && segments < MAX_GSO_SEGMENTS) {
        napi_value next;
        CHECK(napi_get_element(env, argv[2], i, &next));
        uint8_t *next_data;
        size_t next_length;
        if (!bytes_of(env, next, &next_data, &next_length) || next_length == 0 || next_length > length ||
            total + next_length > MAX_GSO_BYTES)
          break;
        iov[i].iov_base = next_data;
        iov[i].iov_len = next_length;
        total += next_length;
        segments++;
        i++;
        if (next_length < length) break; /* only the last segment may be short */
      }
    }
    message->msg_hdr.msg_iovlen = segments;
    if (segments > 1) {
      message->msg_hdr.msg_control = control[message_count].buffer;
      message->msg_hdr.msg_controllen = sizeof control[message_count].buffer;
      struct cmsghdr *cmsg = CMSG_FIRSTHDR(&message->msg_hdr);
      cmsg->cmsg_level = SOL_UDP;
      cmsg->cmsg_type = UDP_SEGMENT;
      cmsg->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t size = (uint16_t)length;
      memcpy(CMSG_DATA(cmsg), &size, sizeof size);
    }
    carried[message_count] = (uint16_t)segments;
    message_count++;
  }
  uint32_t done = 0;
  uint32_t sent_datagrams = 0;
  while (done < message_count) {
    int result = sendmmsg(fd, messages + done, message_count - done, MSG_DONTWAIT);
    if (result < 0) {
      if (errno == EINTR) continue;
      if (sent_datagrams > 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
      return make_int(env, -(int64_t)errno);
    }
    if (result == 0) break;
    for (int m = 0; m < result; m++) sent_datagrams += carried[done + m];
    done += (uint32_t)result;
  }
  return make_int(env, sent_datagrams);
}
#endif

#if ANTT_HAVE_BATCH
/* ---- batched UDP receives -------------------------------------------------------------------- */

/* Per received datagram, RECV_META_INTS int32 in the caller's meta array: */
#define META_LENGTH 0   /* bytes, or -1 when it did not fit its slot (truncated) */
#define META_FAMILY 1   /* 4 or 6 */
#define META_PORT 2
#define META_ADDRESS 3  /* 4 int32 holding the address bytes as received (network order) */
#define RECV_META_INTS 8
#define MAX_RECV_SLOTS 256
/* recvmmsg rounds per wake-up before other work on the event loop gets its turn. */
#define MAX_RECV_ROUNDS 8

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int stopped;
  int closing;
  /* The JS handle and the libuv poll each hold one; the memory goes when both let go. */
  int holders;
  napi_ref callback;
  napi_ref data_ref;
  napi_ref meta_ref;
  napi_async_context async;
  uint8_t *data;
  int32_t *meta;
  uint32_t slot_bytes;
  uint32_t slots;
  struct mmsghdr msgs[MAX_RECV_SLOTS];
  struct iovec iov[MAX_RECV_SLOTS];
  struct sockaddr_storage addresses[MAX_RECV_SLOTS];
} receiver_t;

static void receiver_release(receiver_t *r) {
  if (--r->holders == 0) free(r);
}

static void receiver_closed(uv_handle_t *handle) {
  receiver_t *r = (receiver_t *)handle->data;
  if (r->fd >= 0) close(r->fd);
  r->fd = -1;
  receiver_release(r);
}

static void receiver_close(receiver_t *r) {
  if (r->closing) return;
  r->closing = 1;
  uv_close((uv_handle_t *)&r->poll, receiver_closed);
}

/* Stops reading and drops the references to the JS side; the memory goes once libuv closed the poll. */
static void receiver_stop(receiver_t *r, int release_refs) {
  if (r->stopped) return;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  if (release_refs) {
    napi_delete_reference(r->env, r->callback);
    napi_delete_reference(r->env, r->data_ref);
    napi_delete_reference(r->env, r->meta_ref);
    napi_async_destroy(r->env, r->async);
  }
}

static void receiver_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  receiver_t *r = (receiver_t *)data;
  receiver_stop(r, 1);
  receiver_close(r);
  receiver_release(r);
}

static void fill_meta(receiver_t *r, unsigned i) {
  int32_t *m = r->meta + (size_t)i * RECV_META_INTS;
  const struct msghdr *h = &r->msgs[i].msg_hdr;
  m[META_LENGTH] = (h->msg_flags & MSG_TRUNC) ? -1 : (int32_t)r->msgs[i].msg_len;
  const struct sockaddr_storage *a = &r->addresses[i];
  memset(m + META_ADDRESS, 0, 16);
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
    m[META_FAMILY] = 6;
    m[META_PORT] = ntohs(v6->sin6_port);
    memcpy(m + META_ADDRESS, &v6->sin6_addr, 16);
  } else {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
    m[META_FAMILY] = 4;
    m[META_PORT] = ntohs(v4->sin_port);
    memcpy(m + META_ADDRESS, &v4->sin_addr, 4);
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  (void)events;
  receiver_t *r = (receiver_t *)poll->data;
  if (status < 0 || r->stopped) return;
  napi_env env = r->env;
  for (int round = 0; round < MAX_RECV_ROUNDS && !r->stopped; round++) {
    for (uint32_t i = 0; i < r->slots; i++) {
      r->iov[i].iov_base = r->data + (size_t)i * r->slot_bytes;
      r->iov[i].iov_len = r->slot_bytes;
      memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
      r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
      r->msgs[i].msg_hdr.msg_iovlen = 1;
      r->msgs[i].msg_hdr.msg_name = &r->addresses[i];
      r->msgs[i].msg_hdr.msg_namelen = sizeof r->addresses[i];
    }
    int n = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, NULL);
    if (n <= 0) return; /* EAGAIN: drained; an error (none expected on unconnected UDP): next wake-up */
    for (int i = 0; i < n; i++) fill_meta(r, (unsigned)i);
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value callback, global, argv[1], result;
    if (napi_get_reference_value(env, r->callback, &callback) == napi_ok && callback != NULL &&
        napi_get_global(env, &global) == napi_ok && napi_create_int32(env, n, &argv[0]) == napi_ok) {
      napi_status called = napi_make_callback(env, r->async, global, callback, 1, argv, &result);
      if (called == napi_pending_exception) {
        napi_value error;
        napi_get_and_clear_last_exception(env, &error);
        napi_fatal_exception(env, error);
      }
    }
    napi_close_handle_scope(env, scope);
    if ((uint32_t)n < r->slots) return;
  }
}

/*
 * startReceiver(fd, data: Uint8Array, slotBytes, meta: Int32Array, onBatch(count)) -> handle
 * Reads datagrams sent to the socket `fd` (which the caller stops reading itself) in batches of up to
 * data.length / slotBytes, datagram i at data[i * slotBytes], its length and source in meta[i * 8 ...],
 * then calls onBatch(count). Both arrays are reused for the next batch: onBatch must copy what it keeps.
 */
static napi_value start_receiver(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_error(env, "ERR_INVALID_ARG", "startReceiver(fd, data, slotBytes, meta, onBatch)");
  int32_t fd = -1;
  uint32_t slot_bytes = 0;
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_uint32(env, argv[2], &slot_bytes);
  void *data = NULL, *meta = NULL;
  size_t data_length = 0, meta_length = 0;
  napi_valuetype callback_type;
  if (fd < 0 || slot_bytes == 0 || !typed_info(env, argv[1], napi_uint8_array, &data, &data_length) ||
      !typed_info(env, argv[3], napi_int32_array, &meta, &meta_length) ||
      napi_typeof(env, argv[4], &callback_type) != napi_ok || callback_type != napi_function) {
    return throw_error(env, "ERR_INVALID_ARG", "startReceiver(fd, data, slotBytes, meta, onBatch): bad arguments");
  }
  size_t slots = data_length / slot_bytes;
  if (slots > MAX_RECV_SLOTS) slots = MAX_RECV_SLOTS;
  if (slots == 0 || meta_length < slots * RECV_META_INTS) {
    return throw_error(env, "ERR_INVALID_ARG", "startReceiver: data holds no slot, or meta is too short for its slots");
  }
  uv_loop_t *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  receiver_t *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_error(env, "ERR_MEMORY", "startReceiver: out of memory");
  r->env = env;
  r->data = data;
  r->meta = meta;
  r->slot_bytes = slot_bytes;
  r->slots = (uint32_t)slots;
  r->fd = dup(fd);
  if (r->fd < 0) {
    int error = errno;
    free(r);
    return make_int(env, -error);
  }
  r->poll.data = r;
  r->holders = 2;
  if (uv_poll_init(loop, &r->poll, r->fd) != 0) {
    close(r->fd);
    free(r);
    return make_int(env, -EINVAL);
  }
  napi_value resource_name;
  napi_create_string_utf8(env, "antt:udp-receiver", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &r->async);
  napi_create_reference(env, argv[4], 1, &r->callback);
  napi_create_reference(env, argv[1], 1, &r->data_ref);
  napi_create_reference(env, argv[3], 1, &r->meta_ref);
  napi_value external;
  if (napi_create_external(env, r, receiver_finalize, NULL, &external) != napi_ok) {
    receiver_stop(r, 1);
    receiver_close(r);
    receiver_release(r); /* no JS handle holds it */
    return NULL;
  }
  uv_poll_start(&r->poll, UV_READABLE, on_readable);
  return external;
}

/* stopReceiver(handle): no more callbacks; idempotent. The dup'd descriptor closes with the handle. */
static napi_value stop_receiver(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  receiver_t *r = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    return throw_error(env, "ERR_INVALID_ARG", "stopReceiver(handle): not a receiver");
  }
  receiver_stop(r, 1);
  receiver_close(r);
  return NULL;
}

/* formatAddress(meta: Int32Array, index) -> the source address of datagram `index`, as inet_ntop writes it. */
static napi_value format_address(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *meta = NULL;
  size_t meta_length = 0;
  uint32_t index = 0;
  if (argc < 2 || !typed_info(env, argv[0], napi_int32_array, &meta, &meta_length) ||
      napi_get_value_uint32(env, argv[1], &index) != napi_ok ||
      (size_t)(index + 1) * RECV_META_INTS > meta_length) {
    return throw_error(env, "ERR_INVALID_ARG", "formatAddress(meta, index): bad arguments");
  }
  const int32_t *m = (const int32_t *)meta + (size_t)index * RECV_META_INTS;
  char text[INET6_ADDRSTRLEN];
  const char *written = inet_ntop(m[META_FAMILY] == 6 ? AF_INET6 : AF_INET, m + META_ADDRESS, text, sizeof text);
  if (written == NULL) return throw_error(env, "ERR_INVALID_ARG", "formatAddress: not an address");
  napi_value result;
  CHECK(napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &result));
  return result;
}
#endif

/* ---- module ---------------------------------------------------------------------------------- */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"createAead", NULL, create_aead, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, aead_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, aead_open, NULL, NULL, NULL, napi_enumerable, NULL},
#if ANTT_HAVE_BATCH
      {"socketAddress", NULL, socket_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReceiver", NULL, start_receiver, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReceiver", NULL, stop_receiver, NULL, NULL, NULL, napi_enumerable, NULL},
      {"formatAddress", NULL, format_address, NULL, NULL, NULL, napi_enumerable, NULL},
#endif
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok)
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
