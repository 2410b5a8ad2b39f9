/*
 * Framed TLS connections over libevent; see conn.h. Teardown always happens in
 * a fresh callback (never inside conn_close()), so a callee may close the
 * connection it is being called for without pulling it from under the caller.
 */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/frame.h"
#include "net/tls.h"
#include "net/wire.h"
#include "proto/manifest.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/log.h"

/* Read ahead at most one maximal frame. */
#define CONN_READ_HIGH (4 + FRAME_HEADER_MAX + OBJECT_SIZE_MAX + 4096)
/* How long a closing connection may take to flush its last frame. */
#define CONN_LINGER 1.0

struct conn {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer; /* handshake deadline, then the close linger */
	struct frame_reader reader;
	const struct conn_ops *ops;
	void *arg;
	void *user;
	uint8_t peer_id[NODE_ID_LEN];
	char remote[ADDR_MAX];
	char host[ADDR_MAX];
	int outbound;
	int ready;
	int closing;
	int congested;
	int torn;
	int close_err;
	struct tls_refusal refusal; /* why the peer's certificate was refused */
};

/* ---- refused certificates, logged at most once a minute a peer ---- */

#define REFUSAL_SLOTS 64
#define REFUSAL_EVERY 60.0 /* seconds */

/* A refusal lately logged: from the host, of the certificate (or, for the
 * peer's refusals of ours, the side) tag. A node of another network redials
 * with backoff for ever; a line per attempt would bury the log. Shared by
 * every connection of the process, hence the lock. */
static struct refusal_logged {
	char host[ADDR_MAX];
	uint8_t tag[32];
	double at;	/* when last logged */
	unsigned quiet; /* refusals not logged since */
} refusals[REFUSAL_SLOTS];
static pthread_mutex_t refusals_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether a refusal (host, tag) may be logged now, i.e. none was within
 * REFUSAL_EVERY; *quiet is then how many were not logged since the last. The
 * slot of the refusal logged longest ago makes room for a new one. */
static int refusal_may_log(const char *host, const uint8_t tag[32], unsigned *quiet)
{
	double now = monotonic_seconds();
	int ok = 1;
	*quiet = 0;
	pthread_mutex_lock(&refusals_lock);
	struct refusal_logged *slot = NULL, *oldest = &refusals[0];
	for (size_t i = 0; i < REFUSAL_SLOTS && !slot; i++) {
		struct refusal_logged *r = &refusals[i];
		if (r->at > 0 && !strcmp(r->host, host) && !memcmp(r->tag, tag, sizeof(r->tag)))
			slot = r;
		else if (r->at < oldest->at)
			oldest = r;
	}
	if (slot && now - slot->at < REFUSAL_EVERY) {
		slot->quiet++;
		ok = 0;
	} else if (slot) {
		*quiet = slot->quiet;
		slot->quiet = 0;
		slot->at = now;
	} else {
		snprintf(oldest->host, sizeof(oldest->host), "%s", host);
		memcpy(oldest->tag, tag, sizeof(oldest->tag));
		oldest->at = now;
		oldest->quiet = 0;
	}
	pthread_mutex_unlock(&refusals_lock);
	return ok;
}

/*
 * Logs, in plain words, that a certificate was refused on c: the peer's by
 * this node (the verify callback noted why in c->refusal) or this node's by
 * the peer (alert: the plain words of its TLS alert, tls_alert_text()).
 * Returns 1 if it was one of those (logged, or quiet within the minute), 0
 * if the connection failed for another reason. Only the address is printed
 * of the peer, never what its certificate says.
 */
static int log_refusal(struct conn *c, const char *alert)
{
	uint8_t tag[32];
	char why[256];
	unsigned quiet;
	if (c->refusal.error) {
		memcpy(tag, c->refusal.fingerprint, sizeof(tag));
		tls_refusal_text(&c->refusal, why, sizeof(why));
	} else if (alert) {
		memset(tag, 0xff, sizeof(tag));
		snprintf(why, sizeof(why), "%s", alert);
	} else {
		return 0;
	}
	if (!refusal_may_log(c->host, tag, &quiet))
		return 1;
	char more[96] = "";
	if (quiet)
		snprintf(more, sizeof(more), " (and %u more from this host since, not logged)",
			 quiet);
	if (c->refusal.error)
		log_warnx("%s: %s; disconnecting%s", c->remote, why, more);
	else
		log_warnx("%s: %s%s", c->remote, why, more);
	return 1;
}

static void teardown(struct conn *c, int err)
{
	if (c->torn)
		return;
	c->torn = 1;
	if (c->ops->on_close)
		c->ops->on_close(c, err, c->arg);
	conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct conn *c = arg;
	if (c->closing) {
		teardown(c, c->close_err);
		return;
	}
	/* A dial that times out is routine (a member down, an address that
	 * drops packets): its owner decides what to say; an accepted connection
	 * that stalls its handshake is a stranger's doing. */
	if (c->outbound)
		log_debug("%s: connection or TLS handshake did not finish in time", c->remote);
	else
		log_warnx("%s: TLS handshake did not finish in time; dropped", c->remote);
	teardown(c, -ETIMEDOUT);
}

static void process_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->closing && !c->congested && !c->torn) {
		struct frame f;
		int r = frame_reader_next(&c->reader, in, &f);
		if (r == 0)
			break;
		if (r < 0) {
			log_warnx("%s: malformed frame (%s); disconnecting", c->remote,
				  shoal_strerror(r));
			conn_close(c, SHOAL_EPROTO, SHOAL__ERROR__CODE__PROTOCOL,
				   "malformed frame");
			break;
		}
		c->ops->on_frame(c, f.msg, f.payload, f.payload_len, c->arg);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct conn *c = arg;
	if (c->ready)
		process_input(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t left = evbuffer_get_length(bufferevent_get_output(bev));
	if (c->closing) {
		if (left == 0)
			teardown(c, c->close_err);
		return;
	}
	if (c->congested && left <= CONN_OUT_LOW) {
		c->congested = 0;
		bufferevent_enable(c->bev, EV_READ);
		if (c->ops->on_drain)
			c->ops->on_drain(c, c->arg);
		if (!c->torn)
			process_input(c);
	}
}

/* Collects OpenSSL's reasons for a failed connection into one string; *alert
 * is set to the plain words of a TLS alert refusing this node's certificate
 * among them, or NULL. */
static void ssl_reason(struct conn *c, char *out, size_t size, const char **alert)
{
	unsigned long e;
	out[0] = 0;
	*alert = NULL;
	size_t n = 0;
	while ((e = bufferevent_get_openssl_error(c->bev)) != 0) {
		char one[256];
		if (ERR_GET_LIB(e) == 0)
			continue; /* a bare system error code: says nothing */
		if (!*alert)
			*alert = tls_alert_text(e);
		ERR_error_string_n(e, one, sizeof(one));
		int w = snprintf(out + n, size - n, "%s%s", n ? "; " : "", one);
		if (w < 0 || (size_t)w >= size - n)
			break;
		n += (size_t)w;
	}
}

/* Whether c's socket is connected to its peer. */
static int connected(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int saved = errno;
	int ok = getpeername(bufferevent_getfd(c->bev), (struct sockaddr *)&ss, &len) == 0;
	errno = saved;
	return ok;
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		if (tls_peer_id(ssl, c->peer_id)) {
			log_warnx("%s: peer certificate refused; disconnecting", c->remote);
			teardown(c, SHOAL_EIDENTITY);
			return;
		}
		event_del(c->timer);
		c->ready = 1;
		c->ops->on_ready(c, c->arg);
		if (!c->torn && !c->closing)
			process_input(c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		return;
	int sock_err = EVUTIL_SOCKET_ERROR();
	char reason[512];
	const char *alert;
	ssl_reason(c, reason, sizeof(reason), &alert);
	int err = (what & BEV_EVENT_EOF) ? 0 : reason[0] ? SHOAL_ECRYPTO : -sock_err;
	/* libevent reports a refused connect as an end of stream: a dial whose
	 * socket never connected failed, for the socket's reason. */
	if (!c->ready && c->outbound && !reason[0] && !connected(c))
		err = -(sock_err ? sock_err : ECONNREFUSED);
	if (c->closing) {
		teardown(c, c->close_err);
		return;
	}
	if (log_refusal(c, alert)) {
		err = SHOAL_EIDENTITY;
	} else if (!c->ready) {
		/* Failed dials are routine (a member is down); failed accepts are
		 * strangers or broken clients and worth a line. */
		if (c->outbound)
			log_debug("%s: connection failed: %s", c->remote,
				  reason[0] ? reason : evutil_socket_error_to_string(sock_err));
		else
			log_warnx("%s: TLS handshake failed: %s", c->remote,
				  reason[0] ? reason : "connection closed");
	} else if (err) {
		log_info("%s: connection lost: %s", c->remote,
			 reason[0] ? reason : evutil_socket_error_to_string(sock_err));
	}
	teardown(c, err);
}

static struct conn *conn_new(struct event_base *base, const struct conn_params *p)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base = base;
	c->ops = p->ops;
	c->arg = p->arg;
	frame_reader_init(&c->reader, wire_frame_decode, wire_frame_free, NULL, OBJECT_SIZE_MAX);
	c->timer = evtimer_new(base, on_timer, c);
	if (!c->timer) {
		free(c);
		return NULL;
	}
	return c;
}

static int conn_start(struct conn *c, int fd, int outbound, const struct conn_params *p)
{
	SSL *ssl = SSL_new(p->ssl_ctx);
	if (!ssl)
		return SHOAL_ECRYPTO;
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	if (tls_refusal_watch(ssl, &c->refusal)) {
		SSL_free(ssl);
		return SHOAL_ECRYPTO;
	}
	/* A peer that closes without close_notify (killed, or simply gone) is an
	 * ordinary disconnect here, not a TLS error. */
	SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	c->outbound = outbound;
	c->bev = bufferevent_openssl_socket_new(
		c->base, fd, ssl, outbound ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!c->bev) {
		SSL_free(ssl);
		return -ENOMEM;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_LOW, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	struct timeval tv = {
		(time_t)p->handshake_timeout,
		(suseconds_t)((p->handshake_timeout - (time_t)p->handshake_timeout) * 1e6)};
	evtimer_add(c->timer, &tv);
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void format_remote(struct conn *c, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(c->remote, sizeof(c->remote), "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(c->remote, sizeof(c->remote), "[%s]:%d", host, port);
	} else {
		snprintf(c->remote, sizeof(c->remote), "?");
	}
	snprintf(c->host, sizeof(c->host), "%s", host);
}

struct conn *conn_accept(struct event_base *base, int fd, const struct sockaddr *sa, int salen,
			 const struct conn_params *p)
{
	(void)salen;
	struct conn *c = conn_new(base, p);
	if (!c) {
		close(fd);
		return NULL;
	}
	format_remote(c, sa);
	evutil_make_socket_nonblocking(fd);
	set_nodelay(fd);
	if (conn_start(c, fd, 0, p)) {
		if (!c->bev)
			close(fd);
		conn_free(c);
		return NULL;
	}
	return c;
}

/* Resolves "HOST:PORT" (numeric hosts without a lookup). */
static int resolve(const char *addr, struct sockaddr_storage *ss, int *len)
{
	if (addr_parse_numeric(addr, ss, len) == 0)
		return 0;
	char host[ADDR_MAX];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return SHOAL_EPROTO;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, colon + 1, &hints, &res) || !res)
		return -EHOSTUNREACH;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = (int)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

struct conn *conn_connect(struct event_base *base, const char *addr, const struct conn_params *p)
{
	struct sockaddr_storage ss;
	int len;
	if (addr_check(addr) || resolve(addr, &ss, &len))
		return NULL;
	struct conn *c = conn_new(base, p);
	if (!c)
		return NULL;
	snprintf(c->remote, sizeof(c->remote), "%s", addr);
	format_remote(c, (struct sockaddr *)&ss);
	snprintf(c->remote, sizeof(c->remote), "%s", addr);
	if (conn_start(c, -1, 1, p) ||
	    bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, len)) {
		conn_free(c);
		return NULL;
	}
	set_nodelay(bufferevent_getfd(c->bev));
	return c;
}

/* Past CONN_OUT_HIGH queued bytes, stop taking input until the peer reads. */
static void note_queued(struct conn *c, struct evbuffer *out)
{
	if (!c->congested && evbuffer_get_length(out) > CONN_OUT_HIGH) {
		c->congested = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
}

int conn_send(struct conn *c, Shoal__Envelope *env, const void *payload, size_t n)
{
	if (c->closing || c->torn)
		return 0;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int err = wire_send(out, env, payload, n);
	if (!err)
		note_queued(c, out);
	return err;
}

int conn_send_ref(struct conn *c, Shoal__Envelope *env, const void *payload, size_t n,
		  frame_cleanup_fn cleanup, void *arg)
{
	if (c->closing || c->torn) {
		cleanup(payload, n, arg);
		return 0;
	}
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int err = wire_send_ref(out, env, payload, n, cleanup, arg);
	if (!err)
		note_queued(c, out);
	return err;
}

int conn_send_owned(struct conn *c, Shoal__Envelope *env, void *payload, size_t n)
{
	if (c->closing || c->torn) {
		free(payload);
		return 0;
	}
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int err = wire_send_owned(out, env, payload, n);
	if (!err)
		note_queued(c, out);
	return err;
}

void conn_close(struct conn *c, int err, Shoal__Error__Code code, const char *text)
{
	if (c->closing || c->torn)
		return;
	if (c->ready && text) {
		Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
		Shoal__Error e = SHOAL__ERROR__INIT;
		e.code = code;
		e.text = (char *)text;
		env.msg_case = SHOAL__ENVELOPE__MSG_ERROR;
		env.error = &e;
		conn_send(c, &env, NULL, 0);
	}
	c->closing = 1;
	c->close_err = err;
	bufferevent_disable(c->bev, EV_READ);
	/* Teardown comes from the write callback once flushed, or the linger
	 * timer, whichever is first: never from inside this call. */
	struct timeval tv = {0, 0};
	if (c->ready && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		tv.tv_sec = (time_t)CONN_LINGER;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	}
	evtimer_add(c->timer, &tv);
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->bev)
		bufferevent_free(c->bev);
	if (c->timer)
		event_free(c->timer);
	frame_reader_release(&c->reader);
	free(c);
}

const uint8_t *conn_peer_id(const struct conn *c)
{
	return c->peer_id;
}

X509 *conn_peer_cert(const struct conn *c)
{
	SSL *ssl = c->ready ? bufferevent_openssl_get_ssl(c->bev) : NULL;
	return ssl ? SSL_get0_peer_certificate(ssl) : NULL;
}

const char *conn_remote(const struct conn *c)
{
	return c->remote;
}

const char *conn_remote_host(const struct conn *c)
{
	return c->host;
}

int conn_outbound(const struct conn *c)
{
	return c->outbound;
}

int conn_ready(const struct conn *c)
{
	return c->ready && !c->closing && !c->torn;
}

int conn_congested(const struct conn *c)
{
	return c->congested;
}

size_t conn_output_len(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void conn_set_user(struct conn *c, void *user)
{
	c->user = user;
}

void *conn_user(const struct conn *c)
{
	return c->user;
}
