/*
 * One authenticated, framed connection to a peer: TCP, then TLS 1.3 through
 * bufferevent_openssl, then length-prefixed Envelope frames (see
 * proto/shoal.proto). The module owns the handshake deadline, the peer's
 * verified identity, reassembly of frames and backpressure:
 *
 *  - Input: libevent reads at most one maximal frame ahead; frames are handed
 *    to on_frame one at a time.
 *  - Output: once more than CONN_OUT_HIGH bytes wait to be sent, the
 *    connection stops taking input (so a peer that does not read cannot make
 *    us queue replies without end) until the output drains below
 *    CONN_OUT_LOW, when on_drain fires.
 *
 * All of it runs on the loop thread. Callbacks never fire after conn_free()
 * or after on_close (which is the last). Inside a callback, end a connection
 * with conn_close(), never conn_free().
 */
#ifndef SHOAL_NET_CONN_H
#define SHOAL_NET_CONN_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <sys/socket.h>

#include "crypto/identity.h"
#include "net/addr.h"
#include "net/frame.h"
#include "proto/shoal.pb-c.h"

#define CONN_OUT_HIGH ((size_t)16 * 1024 * 1024)
#define CONN_OUT_LOW  ((size_t)4 * 1024 * 1024)

struct conn;

struct conn_ops {
	/* The handshake finished and the peer's certificate checked out;
	 * conn_peer_id() is valid from now on. */
	void (*on_ready)(struct conn *c, void *arg);
	/* A frame arrived. env is owned by the callee (free with wire_free(env,
	 * NULL)); so is payload (free()), NULL when payload_len is 0. The callee
	 * may call conn_close() from here. */
	void (*on_frame)(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t payload_len,
			 void *arg);
	/* Output fell below CONN_OUT_LOW after having been above CONN_OUT_HIGH. */
	void (*on_drain)(struct conn *c, void *arg);
	/* The connection is gone: err is 0 when either side closed it in order
	 * (conn_close(c, 0, ...) or the peer's end of stream), else why: a
	 * dial that never connected has the socket's error (-ECONNREFUSED,
	 * -ETIMEDOUT...), a certificate refused by either side (logged here)
	 * SHOAL_EIDENTITY. c is freed right after this returns. */
	void (*on_close)(struct conn *c, int err, void *arg);
};

struct conn_params {
	SSL_CTX *ssl_ctx;
	double handshake_timeout; /* seconds */
	const struct conn_ops *ops;
	void *arg;
};

/* Wraps an accepted socket fd (taking it). Returns NULL (fd closed) on failure. */
struct conn *conn_accept(struct event_base *base, int fd, const struct sockaddr *sa, int salen,
			 const struct conn_params *p);
/* Starts connecting to addr ("HOST:PORT", numeric host). Returns NULL on an
 * unusable address or resource failure; otherwise on_ready or on_close follows. */
struct conn *conn_connect(struct event_base *base, const char *addr, const struct conn_params *p);

/* Queues a frame. Returns 0, or SHOAL_EPROTO if env cannot be packed. Frames are
 * queued even above CONN_OUT_HIGH (callers producing bulk check conn_congested). */
int conn_send(struct conn *c, Shoal__Envelope *env, const void *payload, size_t n);
/* Like conn_send(), but takes ownership of payload (malloc'd) and sends it
 * without copying it; payload is freed in every case. */
int conn_send_owned(struct conn *c, Shoal__Envelope *env, void *payload, size_t n);
/* Like conn_send(), but queues payload by reference: cleanup (net/frame.h)
 * runs once the bytes are sent or dropped, or at once on failure. */
int conn_send_ref(struct conn *c, Shoal__Envelope *env, const void *payload, size_t n,
		  frame_cleanup_fn cleanup, void *arg);
/* Sends an Error frame, then closes once it is flushed (or after a second).
 * on_close fires with err. Idempotent. */
void conn_close(struct conn *c, int err, Shoal__Error__Code code, const char *text);
/* Frees c at once without sending anything or calling on_close. NULL is fine. */
void conn_free(struct conn *c);

/* The peer's node id (valid after on_ready). */
const uint8_t *conn_peer_id(const struct conn *c);
/* The peer's certificate (borrowed: valid while c is), once ready; else NULL. */
X509 *conn_peer_cert(const struct conn *c);
/* "IP:PORT" of the other end. */
const char *conn_remote(const struct conn *c);
/* The remote IP alone (no port). */
const char *conn_remote_host(const struct conn *c);
int conn_outbound(const struct conn *c);
int conn_ready(const struct conn *c);
int conn_congested(const struct conn *c);
size_t conn_output_len(const struct conn *c);
/* A free slot for the owner's bookkeeping. */
void conn_set_user(struct conn *c, void *user);
void *conn_user(const struct conn *c);

#endif
