/*
 * Tests for src/net/tls.c: real TLS handshakes between two SSL objects of one
 * process, over a non-blocking AF_UNIX socketpair, driven by calling
 * SSL_do_handshake on each side in turn. Two nodes of one network must agree on
 * each other's node id; a node of another network, an expired, tampered or
 * self-signed certificate, no certificate at all, and TLS 1.2 must each be
 * refused, with the refused side unable to read anything, and either side able
 * to say why in plain words. Each test runs in its own temporary directory
 * under /tmp, removed afterwards.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../fixture.h"
#include "crypto/identity.h"
#include "net/tls.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define DAY (24L * 3600)
/* A handshake takes a handful of rounds; this many means it is stuck. */
#define HANDSHAKE_MAX_ROUNDS 1000

/* Two nodes, a and b, of the network in <dir>/network, with their contexts. */
struct fixture {
	char dir[TEST_DIR_SIZE];
	char network[PATH_MAX];
	char home_a[PATH_MAX];
	char home_b[PATH_MAX];
	uint8_t id_a[NODE_ID_LEN];
	uint8_t id_b[NODE_ID_LEN];
	SSL_CTX *ctx_a;
	SSL_CTX *ctx_b;
};

static void fx_path(const struct fixture *fx, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", fx->dir, name);
	assert_true(n > 0 && n < PATH_MAX);
}

static void home_file(const char *home, const char *name, char *out)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", home, name);
	assert_true(n > 0 && n < PATH_MAX);
}

/* Creates <dir>/<name> as a node home of the network in network_path. */
static void make_home(const struct fixture *fx, const char *name, const char *network_path,
		      char *home, uint8_t id[NODE_ID_LEN])
{
	fx_path(fx, name, home);
	assert_int_equal(mkdir(home, 0700), 0);
	assert_int_equal(identity_init(home, network_path, id), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (!fx)
		return -1;
	if (test_dir_make(fx->dir, "tls")) {
		free(fx);
		return -1;
	}
	*state = fx;
	fx_path(fx, "network", fx->network);
	assert_int_equal(network_create(fx->network), 0);
	make_home(fx, "a", fx->network, fx->home_a, fx->id_a);
	make_home(fx, "b", fx->network, fx->home_b, fx->id_b);
	assert_int_equal(tls_ctx_new(fx->home_a, &fx->ctx_a), 0);
	assert_int_equal(tls_ctx_new(fx->home_b, &fx->ctx_b), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	SSL_CTX_free(fx->ctx_a);
	SSL_CTX_free(fx->ctx_b);
	int err = test_dir_remove(fx->dir);
	free(fx);
	return err;
}

enum hs_state { HS_PENDING, HS_DONE, HS_FAILED };

/* One side of a connection: its SSL, its socket, how its handshake ended and,
 * when it failed, the reason code of OpenSSL's first error. */
struct end {
	SSL *ssl;
	int fd;
	enum hs_state state;
	int reason;
};

struct link {
	struct end server;
	struct end client;
};

/* Connects a server made from server_ctx and a client made from client_ctx over
 * a fresh socketpair; the handshake is left to link_handshake(). */
static void link_open(struct link *l, SSL_CTX *server_ctx, SSL_CTX *client_ctx)
{
	int fds[2];
	memset(l, 0, sizeof(*l));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds),
			 0);
	l->server.fd = fds[0];
	l->client.fd = fds[1];
	l->server.ssl = SSL_new(server_ctx);
	l->client.ssl = SSL_new(client_ctx);
	assert_non_null(l->server.ssl);
	assert_non_null(l->client.ssl);
	assert_int_equal(SSL_set_fd(l->server.ssl, l->server.fd), 1);
	assert_int_equal(SSL_set_fd(l->client.ssl, l->client.fd), 1);
	SSL_set_accept_state(l->server.ssl);
	SSL_set_connect_state(l->client.ssl);
}

static void link_close(struct link *l)
{
	SSL_free(l->server.ssl);
	SSL_free(l->client.ssl);
	close(l->server.fd);
	close(l->client.fd);
}

/* Advances e's handshake by one step. A side that fails shuts its socket for
 * writing after its alert, so that the other side sees the end instead of
 * waiting forever. */
static void end_step(struct end *e)
{
	ERR_clear_error();
	int r = SSL_do_handshake(e->ssl);
	if (r == 1) {
		e->state = HS_DONE;
		return;
	}
	int code = SSL_get_error(e->ssl, r);
	if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE)
		return;
	e->state = HS_FAILED;
	e->reason = ERR_GET_REASON(ERR_peek_error());
	ERR_clear_error();
	shutdown(e->fd, SHUT_WR);
}

/* Runs both handshakes until neither is pending. */
static void link_handshake(struct link *l)
{
	int rounds = 0;
	while (l->server.state == HS_PENDING || l->client.state == HS_PENDING) {
		assert_true(++rounds < HANDSHAKE_MAX_ROUNDS);
		if (l->client.state == HS_PENDING)
			end_step(&l->client);
		if (l->server.state == HS_PENDING)
			end_step(&l->server);
	}
}

/* Sends a message from one end and reads it at the other. */
static void send_and_receive(struct end *from, struct end *to, const char *msg)
{
	char got[64];
	int len = (int)strlen(msg);
	assert_int_equal(SSL_write(from->ssl, msg, len), len);
	int n = SSL_read(to->ssl, got, sizeof(got));
	assert_int_equal(n, len);
	assert_memory_equal(got, msg, (size_t)len);
}

/* e's peer refused the connection: e either failed its own handshake or, having
 * finished it (a TLS 1.3 client finishes before the server has checked its
 * certificate), reads the peer's alert instead of any data. */
static void assert_cut_off(struct end *e)
{
	char byte;
	if (e->state == HS_FAILED)
		return;
	assert_int_equal(e->state, HS_DONE);
	ERR_clear_error();
	int r = SSL_read(e->ssl, &byte, 1);
	assert_true(r <= 0);
	assert_int_equal(SSL_get_error(e->ssl, r), SSL_ERROR_SSL);
	ERR_clear_error();
}

/* The server refused the client's certificate with verify_error. */
static void assert_client_cert_refused(struct link *l, long verify_error)
{
	uint8_t id[NODE_ID_LEN];
	assert_int_equal(l->server.state, HS_FAILED);
	assert_int_equal(SSL_get_verify_result(l->server.ssl), verify_error);
	assert_int_equal(tls_peer_id(l->server.ssl, id), SHOAL_EIDENTITY);
	assert_cut_off(&l->client);
}

/* Issues a node certificate for a fresh key from the fixture's CA, valid from
 * now + not_before to now + not_after seconds. */
static void issue(const struct fixture *fx, long not_before, long not_after, EVP_PKEY **key,
		  X509 **cert)
{
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	assert_int_equal(identity_load_key(fx->network, &ca_key), 0);
	assert_int_equal(identity_load_cert(fx->network, &ca_cert), 0);
	*key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(*key);
	assert_int_equal(identity_issue_cert(ca_key, ca_cert, *key, not_before, not_after, cert),
			 0);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
}

/* Makes the client of l present cert and key instead of its node's. */
static void client_use(struct link *l, X509 *cert, EVP_PKEY *key)
{
	assert_int_equal(SSL_use_certificate(l->client.ssl, cert), 1);
	assert_int_equal(SSL_use_PrivateKey(l->client.ssl, key), 1);
}

/* A hostile end does not check the other side, so that what is tested is the
 * other side's check of it. */
static void trust_anything(struct end *e)
{
	SSL_set_verify(e->ssl, SSL_VERIFY_NONE, NULL);
}

static void write_cert(const char *path, X509 *cert)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static void test_same_network_handshake(void **state)
{
	struct fixture *fx = *state;
	uint8_t loaded_a[NODE_ID_LEN], loaded_b[NODE_ID_LEN];
	uint8_t seen_by_a[NODE_ID_LEN], seen_by_b[NODE_ID_LEN];
	struct link l;

	assert_int_equal(identity_load_id(fx->home_a, loaded_a), 0);
	assert_int_equal(identity_load_id(fx->home_b, loaded_b), 0);
	assert_memory_not_equal(loaded_a, loaded_b, NODE_ID_LEN);

	link_open(&l, fx->ctx_a, fx->ctx_b);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_DONE);
	assert_int_equal(l.client.state, HS_DONE);
	assert_int_equal(SSL_version(l.server.ssl), TLS1_3_VERSION);
	assert_int_equal(SSL_version(l.client.ssl), TLS1_3_VERSION);
	assert_int_equal(SSL_get_verify_result(l.server.ssl), X509_V_OK);
	assert_int_equal(SSL_get_verify_result(l.client.ssl), X509_V_OK);

	assert_int_equal(tls_peer_id(l.server.ssl, seen_by_a), 0);
	assert_int_equal(tls_peer_id(l.client.ssl, seen_by_b), 0);
	assert_memory_equal(seen_by_a, loaded_b, NODE_ID_LEN);
	assert_memory_equal(seen_by_b, loaded_a, NODE_ID_LEN);
	assert_memory_equal(seen_by_a, fx->id_b, NODE_ID_LEN);
	assert_memory_equal(seen_by_b, fx->id_a, NODE_ID_LEN);

	send_and_receive(&l.client, &l.server, "ping");
	send_and_receive(&l.server, &l.client, "pong");
	link_close(&l);
}

/* No tickets are sent and nothing can be resumed: a second connection offered
 * the first one's session still runs a full handshake with certificates. */
static void test_no_resumption(void **state)
{
	struct fixture *fx = *state;
	uint8_t id[NODE_ID_LEN];
	struct link first, second;

	link_open(&first, fx->ctx_a, fx->ctx_b);
	link_handshake(&first);
	assert_int_equal(first.client.state, HS_DONE);
	/* Tickets would arrive after the handshake, processed by this read. */
	send_and_receive(&first.server, &first.client, "hello");
	SSL_SESSION *session = SSL_get1_session(first.client.ssl);
	assert_non_null(session);
	assert_int_equal(SSL_SESSION_is_resumable(session), 0);

	link_open(&second, fx->ctx_a, fx->ctx_b);
	assert_int_equal(SSL_set_session(second.client.ssl, session), 1);
	link_handshake(&second);
	assert_int_equal(second.server.state, HS_DONE);
	assert_int_equal(second.client.state, HS_DONE);
	assert_int_equal(SSL_session_reused(second.client.ssl), 0);
	assert_int_equal(SSL_session_reused(second.server.ssl), 0);
	assert_int_equal(tls_peer_id(second.server.ssl, id), 0);
	assert_memory_equal(id, fx->id_b, NODE_ID_LEN);

	SSL_SESSION_free(session);
	link_close(&first);
	link_close(&second);
}

static void test_other_network_refused(void **state)
{
	struct fixture *fx = *state;
	char other_network[PATH_MAX], home_c[PATH_MAX];
	uint8_t id_c[NODE_ID_LEN];
	SSL_CTX *ctx_c = NULL;
	struct link l;

	fx_path(fx, "other-network", other_network);
	assert_int_equal(network_create(other_network), 0);
	make_home(fx, "c", other_network, home_c, id_c);
	assert_int_equal(tls_ctx_new(home_c, &ctx_c), 0);

	/* c connects to a, ignoring a's certificate: a refuses c's. */
	link_open(&l, fx->ctx_a, ctx_c);
	trust_anything(&l.client);
	link_handshake(&l);
	assert_client_cert_refused(&l, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	link_close(&l);

	/* a connects to c, which asks for no certificate: a refuses c's. */
	link_open(&l, ctx_c, fx->ctx_a);
	trust_anything(&l.server);
	link_handshake(&l);
	assert_int_equal(l.client.state, HS_FAILED);
	assert_int_equal(SSL_get_verify_result(l.client.ssl),
			 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(l.server.state, HS_FAILED);
	link_close(&l);

	/* Two honest nodes of different networks: neither gets through. */
	link_open(&l, fx->ctx_a, ctx_c);
	link_handshake(&l);
	assert_int_equal(l.client.state, HS_FAILED);
	assert_int_equal(l.server.state, HS_FAILED);
	link_close(&l);

	SSL_CTX_free(ctx_c);
}

/* The same client, with a certificate valid now and then with one that expired
 * yesterday: only the first is let in. */
static void test_expired_client_refused(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	uint8_t want[NODE_ID_LEN], got[NODE_ID_LEN];
	struct link l;

	issue(fx, -3600, DAY, &key, &cert);
	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, cert, key);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_DONE);
	assert_int_equal(tls_peer_id(l.server.ssl, got), 0);
	assert_int_equal(node_id_from_pkey(key, want), 0);
	assert_memory_equal(got, want, NODE_ID_LEN);
	link_close(&l);
	X509_free(cert);
	EVP_PKEY_free(key);

	issue(fx, -2 * DAY, -DAY, &key, &cert);
	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, cert, key);
	link_handshake(&l);
	assert_client_cert_refused(&l, X509_V_ERR_CERT_HAS_EXPIRED);
	link_close(&l);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* A valid certificate with one byte of its signature flipped. */
static void test_tampered_client_refused(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL, *tampered = NULL;
	unsigned char *der = NULL;
	struct link l;

	issue(fx, -3600, DAY, &key, &cert);
	int len = i2d_X509(cert, &der);
	assert_true(len > 64);
	/* The Ed25519 signature is the last 64 bytes of the encoding. */
	der[len - 40] ^= 0xff;
	const unsigned char *p = der;
	tampered = d2i_X509(NULL, &p, len);
	assert_non_null(tampered);

	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, tampered, key);
	link_handshake(&l);
	assert_client_cert_refused(&l, X509_V_ERR_CERT_SIGNATURE_FAILURE);
	link_close(&l);

	OPENSSL_free(der);
	X509_free(tampered);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/*
 * Makes a self-signed node-like certificate for key: identity_issue_cert, with as
 * "CA" a stub certificate that bears key's own name and key identifier, so that
 * issuer and subject, authority and subject key identifiers all coincide.
 */
static void self_sign(EVP_PKEY *key, X509 **out)
{
	uint8_t id[NODE_ID_LEN];
	char cn[NODE_ID_STR_LEN + 1];
	X509V3_CTX v3;
	X509 *stub = X509_new();
	assert_non_null(stub);
	assert_int_equal(node_id_from_pkey(key, id), 0);
	node_id_format(id, cn);
	assert_int_equal(X509_set_pubkey(stub, key), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(stub), "CN",
						    MBSTRING_UTF8, (const unsigned char *)cn, -1,
						    -1, 0),
			 1);
	X509V3_set_ctx(&v3, stub, stub, NULL, NULL, 0);
	X509_EXTENSION *ski = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
	assert_non_null(ski);
	assert_int_equal(X509_add_ext(stub, ski, -1), 1);
	X509_EXTENSION_free(ski);
	assert_int_equal(identity_issue_cert(key, stub, key, -3600, DAY, out), 0);
	X509_free(stub);
}

/* A self-signed node-like certificate, and the network CA's own certificate
 * and key presented as a node's: neither is a node certificate. */
static void test_selfsigned_and_ca_client_refused(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *ca_key = NULL;
	X509 *selfsigned = NULL, *ca_cert = NULL;
	struct link l;

	assert_non_null(key);
	self_sign(key, &selfsigned);
	assert_int_equal(
		X509_NAME_cmp(X509_get_issuer_name(selfsigned), X509_get_subject_name(selfsigned)),
		0);
	assert_int_equal(X509_verify(selfsigned, key), 1);

	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, selfsigned, key);
	link_handshake(&l);
	assert_client_cert_refused(&l, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
	link_close(&l);

	assert_int_equal(identity_load_key(fx->network, &ca_key), 0);
	assert_int_equal(identity_load_cert(fx->network, &ca_cert), 0);
	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, ca_cert, ca_key);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_FAILED);
	assert_int_not_equal(SSL_get_verify_result(l.server.ssl), X509_V_OK);
	assert_cut_off(&l.client);
	link_close(&l);

	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	X509_free(selfsigned);
	EVP_PKEY_free(key);
}

/* Makes a CA certificate for inter_key issued by the fixture's CA. */
static void issue_intermediate(const struct fixture *fx, EVP_PKEY *inter_key, X509 **out)
{
	EVP_PKEY *ca_key = NULL;
	X509 *ca_cert = NULL;
	X509 *x = X509_new();
	const char *exts[][2] = {
		{"basicConstraints", "critical,CA:TRUE"},
		{"keyUsage", "critical,keyCertSign,cRLSign"},
		{"subjectKeyIdentifier", "hash"},
		{"authorityKeyIdentifier", "keyid"},
	};
	X509V3_CTX v3;

	assert_int_equal(identity_load_key(fx->network, &ca_key), 0);
	assert_int_equal(identity_load_cert(fx->network, &ca_cert), 0);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, NULL));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, NULL));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
						    (const unsigned char *)"intermediate", -1, -1,
						    0),
			 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ca_cert)), 1);
	assert_int_equal(X509_set_pubkey(x, inter_key), 1);
	X509V3_set_ctx(&v3, ca_cert, x, NULL, NULL, 0);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		X509_EXTENSION *ext = X509V3_EXT_nconf(NULL, &v3, exts[i][0], exts[i][1]);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, ca_key, NULL) > 0);
	*out = x;
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
}

/* A leaf issued through an intermediate CA (which only the CA key holder could
 * make) chains to the CA as far as OpenSSL is concerned, but a node certificate
 * is issued by the CA itself. */
static void test_intermediate_chain_refused(void **state)
{
	struct fixture *fx = *state;
	EVP_PKEY *inter_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *inter = NULL, *leaf = NULL, *ca_cert = NULL;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *check = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	struct link l;

	assert_non_null(inter_key);
	assert_non_null(leaf_key);
	assert_non_null(store);
	assert_non_null(check);
	assert_non_null(untrusted);
	issue_intermediate(fx, inter_key, &inter);
	assert_int_equal(identity_issue_cert(inter_key, inter, leaf_key, -3600, DAY, &leaf), 0);

	/* The chain itself is sound: plain X.509 verification accepts it. */
	assert_int_equal(identity_load_cert(fx->network, &ca_cert), 0);
	assert_int_equal(X509_STORE_add_cert(store, ca_cert), 1);
	assert_int_equal(sk_X509_push(untrusted, inter), 1);
	assert_int_equal(X509_STORE_CTX_init(check, store, leaf, untrusted), 1);
	X509_STORE_CTX_set_flags(check, X509_V_FLAG_X509_STRICT);
	assert_int_equal(X509_verify_cert(check), 1);

	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, leaf, leaf_key);
	assert_int_equal(SSL_add1_chain_cert(l.client.ssl, inter), 1);
	link_handshake(&l);
	assert_client_cert_refused(&l, X509_V_ERR_APPLICATION_VERIFICATION);
	link_close(&l);

	sk_X509_free(untrusted);
	X509_STORE_CTX_free(check);
	X509_STORE_free(store);
	X509_free(ca_cert);
	X509_free(leaf);
	X509_free(inter);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(inter_key);
}

/* Accepts any certificate and clears the error, as an SSL whose verification
 * was overridden by mistake would. */
static int accept_anything(int preverify_ok, X509_STORE_CTX *store_ctx)
{
	(void)preverify_ok;
	X509_STORE_CTX_set_error(store_ctx, X509_V_OK);
	return 1;
}

/* tls_peer_id does not rely on the handshake's verdict: with verification
 * switched off on the server, a foreign or expired client gets through the
 * handshake but gets no node id. */
static void test_peer_id_checks_again(void **state)
{
	struct fixture *fx = *state;
	char other_network[PATH_MAX], home_c[PATH_MAX];
	uint8_t id[NODE_ID_LEN];
	SSL_CTX *ctx_c = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct link l;

	fx_path(fx, "other-network", other_network);
	assert_int_equal(network_create(other_network), 0);
	make_home(fx, "c", other_network, home_c, id);
	assert_int_equal(tls_ctx_new(home_c, &ctx_c), 0);

	link_open(&l, fx->ctx_a, ctx_c);
	trust_anything(&l.client);
	SSL_set_verify(l.server.ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		       accept_anything);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_DONE);
	assert_int_equal(SSL_get_verify_result(l.server.ssl), X509_V_OK);
	assert_non_null(SSL_get0_peer_certificate(l.server.ssl));
	assert_int_equal(tls_peer_id(l.server.ssl, id), SHOAL_EIDENTITY);
	link_close(&l);

	issue(fx, -2 * DAY, -DAY, &key, &cert);
	link_open(&l, fx->ctx_a, fx->ctx_b);
	client_use(&l, cert, key);
	SSL_set_verify(l.server.ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		       accept_anything);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_DONE);
	assert_int_equal(SSL_get_verify_result(l.server.ssl), X509_V_OK);
	assert_int_equal(tls_peer_id(l.server.ssl, id), SHOAL_EIDENTITY);
	link_close(&l);

	X509_free(cert);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx_c);
}

static void test_client_without_cert_refused(void **state)
{
	struct fixture *fx = *state;
	SSL_CTX *bare = SSL_CTX_new(TLS_client_method());
	struct link l;

	assert_non_null(bare);
	SSL_CTX_set_verify(bare, SSL_VERIFY_NONE, NULL);
	link_open(&l, fx->ctx_a, bare);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_FAILED);
	assert_int_equal(l.server.reason, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
	assert_null(SSL_get0_peer_certificate(l.server.ssl));
	assert_client_cert_refused(&l, X509_V_OK);
	link_close(&l);
	SSL_CTX_free(bare);
}

static void test_tls12_refused(void **state)
{
	struct fixture *fx = *state;
	struct link l;

	/* Both bounds, so that the client really offers TLS 1.2 (with only the
	 * maximum lowered it would have no version left and never connect). */
	link_open(&l, fx->ctx_a, fx->ctx_b);
	assert_int_equal(SSL_set_min_proto_version(l.client.ssl, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_set_max_proto_version(l.client.ssl, TLS1_2_VERSION), 1);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_FAILED);
	assert_int_equal(l.server.reason, SSL_R_UNSUPPORTED_PROTOCOL);
	assert_int_equal(l.client.state, HS_FAILED);
	link_close(&l);

	/* A server limited to TLS 1.2 is refused by a node's client likewise. */
	link_open(&l, fx->ctx_a, fx->ctx_b);
	assert_int_equal(SSL_set_min_proto_version(l.server.ssl, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_set_max_proto_version(l.server.ssl, TLS1_2_VERSION), 1);
	link_handshake(&l);
	assert_int_equal(l.server.state, HS_FAILED);
	assert_int_equal(l.client.state, HS_FAILED);
	link_close(&l);
}

static void test_peer_id_needs_handshake(void **state)
{
	struct fixture *fx = *state;
	uint8_t id[NODE_ID_LEN];
	SSL *ssl = SSL_new(fx->ctx_a);
	assert_non_null(ssl);
	memset(id, 0xa5, sizeof(id));
	assert_int_equal(tls_peer_id(ssl, id), SHOAL_EIDENTITY);
	for (size_t i = 0; i < sizeof(id); i++)
		assert_int_equal(id[i], 0xa5);
	SSL_free(ssl);
}

/* tls_ctx_new on home must fail with SHOAL_EIDENTITY and leave out alone. */
static void assert_ctx_refused(const char *home)
{
	SSL_CTX *ctx = NULL;
	assert_int_equal(tls_ctx_new(home, &ctx), SHOAL_EIDENTITY);
	assert_null(ctx);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_ctx_bad_key(void **state)
{
	struct fixture *fx = *state;
	char home[PATH_MAX], path[PATH_MAX], other_key[PATH_MAX];
	uint8_t id[NODE_ID_LEN];
	struct buf pem = BUF_INIT;

	make_home(fx, "no-key", fx->network, home, id);
	home_file(home, "node.key", path);
	assert_int_equal(unlink(path), 0);
	assert_ctx_refused(home);

	make_home(fx, "garbage-key", fx->network, home, id);
	home_file(home, "node.key", path);
	write_text(path, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n");
	assert_ctx_refused(home);

	make_home(fx, "empty-key", fx->network, home, id);
	home_file(home, "node.key", path);
	write_text(path, "");
	assert_ctx_refused(home);

	/* A valid key, but b's, under a's certificate. */
	make_home(fx, "wrong-key", fx->network, home, id);
	home_file(home, "node.key", path);
	home_file(fx->home_b, "node.key", other_key);
	assert_int_equal(read_file(other_key, &pem, 1 << 20), 0);
	assert_int_equal(write_file_atomic(path, pem.data, pem.len, 0600), 0);
	buf_release(&pem);
	assert_ctx_refused(home);

	fx_path(fx, "nowhere", home);
	assert_ctx_refused(home);
}

static void test_ctx_bad_certs(void **state)
{
	struct fixture *fx = *state;
	char home[PATH_MAX], path[PATH_MAX], other_network[PATH_MAX], other_ca[PATH_MAX];
	char other_home[PATH_MAX];
	uint8_t id[NODE_ID_LEN];
	EVP_PKEY *ca_key = NULL, *node_key = NULL;
	X509 *ca_cert = NULL, *expired = NULL;

	make_home(fx, "no-ca", fx->network, home, id);
	home_file(home, "ca.crt", path);
	assert_int_equal(unlink(path), 0);
	assert_ctx_refused(home);

	make_home(fx, "garbage-ca", fx->network, home, id);
	home_file(home, "ca.crt", path);
	write_text(path, "not a certificate\n");
	assert_ctx_refused(home);

	make_home(fx, "garbage-crt", fx->network, home, id);
	home_file(home, "node.crt", path);
	write_text(path, "not a certificate\n");
	assert_ctx_refused(home);

	/* ca.crt of another network: the node certificate does not chain to it. */
	fx_path(fx, "other-network", other_network);
	assert_int_equal(network_create(other_network), 0);
	make_home(fx, "other", other_network, other_home, id);
	home_file(other_home, "ca.crt", other_ca);
	make_home(fx, "foreign-ca", fx->network, home, id);
	home_file(home, "ca.crt", path);
	assert_int_equal(rename(other_ca, path), 0);
	assert_ctx_refused(home);

	/* The node's own certificate, reissued for its key but expired. */
	make_home(fx, "expired-crt", fx->network, home, id);
	home_file(home, "node.key", path);
	assert_int_equal(identity_load_key(path, &node_key), 0);
	assert_int_equal(identity_load_key(fx->network, &ca_key), 0);
	assert_int_equal(identity_load_cert(fx->network, &ca_cert), 0);
	assert_int_equal(identity_issue_cert(ca_key, ca_cert, node_key, -2 * DAY, -DAY, &expired),
			 0);
	home_file(home, "node.crt", path);
	write_cert(path, expired);
	assert_ctx_refused(home);

	X509_free(expired);
	X509_free(ca_cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(node_key);
}

/* Why a certificate was refused, in plain words, on either side: the side
 * that refused it (tls_refusal_watch(), tls_refusal_text()) and the side whose
 * certificate it was, from the alert it got (tls_alert_text()). */
static void test_refusal_in_plain_words(void **state)
{
	struct fixture *fx = *state;
	char other_network[PATH_MAX], home_c[PATH_MAX], text[256], want[128], date[32];
	uint8_t id_c[NODE_ID_LEN], zeros[32] = {0};
	SSL_CTX *ctx_c = NULL;
	struct tls_refusal server, client;
	struct link l;

	fx_path(fx, "other-network", other_network);
	assert_int_equal(network_create(other_network), 0);
	make_home(fx, "c", other_network, home_c, id_c);
	assert_int_equal(tls_ctx_new(home_c, &ctx_c), 0);

	/* c, of another network, dials a: c refuses a's certificate first and
	 * says a is of another network; a is told by the alert. */
	link_open(&l, fx->ctx_a, ctx_c);
	assert_int_equal(tls_refusal_watch(l.server.ssl, &server), 0);
	assert_int_equal(tls_refusal_watch(l.client.ssl, &client), 0);
	link_handshake(&l);
	assert_int_equal(l.client.state, HS_FAILED);
	assert_int_equal(client.error, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_int_equal(client.depth, 0);
	assert_memory_not_equal(client.fingerprint, zeros, sizeof(zeros));
	assert_string_equal(tls_refusal_text(&client, text, sizeof(text)),
			    "node from another network (its certificate is not signed by this "
			    "network's CA)");
	assert_int_equal(server.error, 0); /* a never saw c's certificate */
	assert_int_equal(l.server.state, HS_FAILED);
	const char *alert = tls_alert_text(ERR_PACK(ERR_LIB_SSL, 0, l.server.reason));
	assert_non_null(alert);
	assert_string_equal(alert, "refused by the peer: this node's certificate is not from its "
				   "network (another network, revoked, or expired)");
	link_close(&l);
	SSL_CTX_free(ctx_c);

	/* A certificate of the network that expired yesterday: refused with
	 * the date it expired on. */
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	struct tm tm;
	issue(fx, -2 * DAY, -DAY, &key, &cert);
	assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm), 1);
	assert_true(strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", &tm) > 0);
	link_open(&l, fx->ctx_a, fx->ctx_b);
	assert_int_equal(tls_refusal_watch(l.server.ssl, &server), 0);
	client_use(&l, cert, key);
	link_handshake(&l);
	assert_client_cert_refused(&l, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(server.error, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_string_equal(server.date, date);
	snprintf(want, sizeof(want), "node whose certificate expired on %s", date);
	assert_string_equal(tls_refusal_text(&server, text, sizeof(text)), want);
	link_close(&l);
	X509_free(cert);
	EVP_PKEY_free(key);

	/* Alerts that are not about this node's certificate, and errors that
	 * are not alerts, are no refusal. */
	assert_null(tls_alert_text(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)));
	assert_null(tls_alert_text(ERR_PACK(ERR_LIB_X509, 0, X509_R_CERT_ALREADY_IN_HASH_TABLE)));
	assert_non_null(strstr(
		tls_alert_text(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED)),
		"expired"));
}

int main(void)
{
	/* The refusals under test log warnings; keep the output to results. */
	log_init(LOG_LEVEL_ERROR, 0);
	/* A side may write after its peer has gone; the error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_same_network_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_resumption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_network_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_client_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_client_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selfsigned_and_ca_client_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_intermediate_chain_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_without_cert_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_id_checks_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls12_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_id_needs_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctx_bad_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctx_bad_certs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_in_plain_words, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
