/*
 * Tests for src/node/catalog.c without a daemon: two nodes' catalogs in one
 * process, joined by a real TLS connection (net/conn) on one event loop, each
 * with what the catalog takes (its home, config, a real mesh of members and
 * links, a worker pool and its loop bridge). A publication is flooded to the other node
 * and so is its withdrawal; a link that comes up carries the whole catalog in
 * frames of at most 64 entries; a node that missed a delta catches up through
 * the digest and request exchange; forged entries (bad signature, bad name,
 * removal with a capability, another network's certificate) are dropped with
 * one warning each while the rest of their delta counts and the connection
 * stays up; home/catalog survives a restart (removals included), is saved on
 * a worker from the tick, and a corrupt or tampered file is survived. Each
 * test makes its network and homes in a temporary directory under /tmp.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../fixture.h"
#include "crypto/identity.h"
#include "net/loopwork.h"
#include "net/tls.h"
#include "net/wire.h"
#include "node/catalog.h"
#include "node/mesh.h"
#include "proto/capability.h"
#include "proto/catalog.h"
#include "proto/catlog.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/pool.h"

#define WAIT_SECONDS 10.0

/* A link as the test drives it: the node's struct link and what arrived. */
struct tlink {
	struct link l;
	struct tnode *n;
	int ready, closed;
	unsigned frames[64]; /* by Envelope msg_case */
};

/* A node as far as its catalog sees it. */
struct tnode {
	char home[PATH_MAX];
	uint8_t id[NODE_ID_LEN];
	struct config cfg;
	struct mesh mesh;
	struct catalog *catalog;
};

struct world {
	char dir[TEST_DIR_SIZE];
	char net[PATH_MAX];
	struct event_base *base;
	struct event *wake;
	struct pool *pool;
	struct loopwork *lw;
	struct tnode *a, *b;
	SSL_CTX *ssl_a, *ssl_b;
	struct tlink *la, *lb; /* la: a's link to b; lb: b's link to a */
};

/* ---- the connection ---- */

static void t_on_ready(struct conn *c, void *arg)
{
	(void)c;
	((struct tlink *)arg)->ready = 1;
}

static void t_on_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t payload_len,
		       void *arg)
{
	(void)c;
	(void)payload_len;
	struct tlink *t = arg;
	if ((unsigned)env->msg_case < 64)
		t->frames[env->msg_case]++;
	if (t->l.member)
		catalog_on_frame(t->n->catalog, &t->l, env);
	wire_free(env, NULL);
	free(payload);
}

static void t_on_close(struct conn *c, int err, void *arg)
{
	(void)c;
	(void)err;
	struct tlink *t = arg;
	t->closed = 1;
	if (t->l.member) {
		t->l.member->link = NULL;
		t->l.member->state = MEMBER_DOWN;
		t->l.member = NULL;
	}
	if (t->n && LIST_FIRST(&t->n->mesh.links) == &t->l)
		LIST_REMOVE(&t->l, entry);
	t->l.c = NULL;
}

static const struct conn_ops t_ops = {
	.on_ready = t_on_ready,
	.on_frame = t_on_frame,
	.on_close = t_on_close,
};

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Runs the loop (and both catalogs' ticks) until cond(w) holds; fails after
 * WAIT_SECONDS. */
static void run_until(struct world *w, int (*cond)(struct world *), const char *what)
{
	double deadline = monotonic_seconds() + WAIT_SECONDS;
	while (!cond(w)) {
		if (monotonic_seconds() > deadline)
			fail_msg("timed out waiting for %s", what);
		event_base_loop(w->base, EVLOOP_ONCE);
		catalog_tick(w->a->catalog, monotonic_seconds());
		catalog_tick(w->b->catalog, monotonic_seconds());
	}
}

/* Runs the loop for about secs seconds (ticks included). */
static void run_for(struct world *w, double secs)
{
	double end = monotonic_seconds() + secs;
	while (monotonic_seconds() < end) {
		event_base_loop(w->base, EVLOOP_ONCE);
		catalog_tick(w->a->catalog, monotonic_seconds());
		catalog_tick(w->b->catalog, monotonic_seconds());
	}
}

static void cat_open(struct world *w, struct tnode *n)
{
	assert_int_equal(
		catalog_open(&n->catalog, n->home, &n->mesh, &n->cfg, NULL, w->lw, w->pool), 0);
	assert_non_null(n->catalog);
}

static void cat_close(struct tnode *n)
{
	catalog_close(n->catalog);
	n->catalog = NULL;
}

static struct tnode *node_make(struct world *w, const char *name)
{
	struct tnode *n = calloc(1, sizeof(*n));
	assert_non_null(n);
	snprintf(n->home, sizeof(n->home), "%s/%s", w->dir, name);
	assert_int_equal(mkdir(n->home, 0700), 0);
	assert_int_equal(identity_init(n->home, w->net, n->id), 0);
	config_defaults(&n->cfg);
	n->cfg.gossip_interval = 0.2;
	mesh_init(&n->mesh, n->id, &n->cfg);
	cat_open(w, n);
	return n;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	assert_int_equal(test_dir_make(w->dir, "nodecat"), 0);
	snprintf(w->net, sizeof(w->net), "%s/net.pem", w->dir);
	assert_int_equal(network_create(w->net), 0);
	w->base = event_base_new();
	assert_non_null(w->base);
	w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, NULL);
	struct timeval tv = {0, 10000};
	event_add(w->wake, &tv);
	w->pool = pool_new(2);
	w->lw = loopwork_new(w->base, w->pool);
	w->a = node_make(w, "a");
	w->b = node_make(w, "b");
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;
	cat_close(w->a);
	cat_close(w->b);
	for (int i = 0; i < 2; i++) {
		struct tlink *t = i ? w->lb : w->la;
		if (t) {
			conn_free(t->l.c);
			free(t);
		}
	}
	pool_free(w->pool);
	loopwork_free(w->lw);
	SSL_CTX_free(w->ssl_a);
	SSL_CTX_free(w->ssl_b);
	event_free(w->wake);
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	event_base_free(w->base);
	free(w->a);
	free(w->b);
	int err = test_dir_remove(w->dir);
	free(w);
	return err;
}

static int both_ready(struct world *w)
{
	return w->la->ready && w->lb->ready;
}

/* Makes t the established link of n to the member with id peer. */
static void attach(struct tnode *n, struct tlink *t, const uint8_t peer[NODE_ID_LEN])
{
	struct member *m = member_find(&n->mesh, peer);
	if (!m)
		m = member_add(&n->mesh, peer, NULL);
	assert_non_null(m);
	m->state = MEMBER_UP;
	m->link = &t->l;
	t->n = n;
	t->l.serial = ++n->mesh.next_serial;
	t->l.member = m;
	t->l.authenticated = 1;
	t->l.hello_received = 1;
	LIST_INSERT_HEAD(&n->mesh.links, &t->l, entry);
	assert_memory_equal(conn_peer_id(t->l.c), peer, NODE_ID_LEN);
}

/* Connects a and b over TLS on 127.0.0.1; with link_up, tells both catalogs. */
static void connect_nodes(struct world *w, int link_up)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t salen = sizeof(sa);
	char addr[64];

	assert_int_equal(tls_ctx_new(w->a->home, &w->ssl_a), 0);
	assert_int_equal(tls_ctx_new(w->b->home, &w->ssl_b), 0);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &salen), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));

	w->la = calloc(1, sizeof(*w->la));
	w->lb = calloc(1, sizeof(*w->lb));
	assert_non_null(w->la);
	assert_non_null(w->lb);
	struct conn_params pa = {w->ssl_a, 5.0, &t_ops, w->la};
	struct conn_params pb = {w->ssl_b, 5.0, &t_ops, w->lb};
	w->la->l.c = conn_connect(w->base, addr, &pa);
	assert_non_null(w->la->l.c);
	salen = sizeof(sa);
	int fd = accept(lfd, (struct sockaddr *)&sa, &salen);
	assert_true(fd >= 0);
	close(lfd);
	w->lb->l.c = conn_accept(w->base, fd, (struct sockaddr *)&sa, (int)salen, &pb);
	assert_non_null(w->lb->l.c);
	run_until(w, both_ready, "the TLS handshake");
	attach(w->a, w->la, w->b->id);
	attach(w->b, w->lb, w->a->id);
	if (link_up) {
		catalog_on_link_up(w->a->catalog, &w->la->l);
		catalog_on_link_up(w->b->catalog, &w->lb->l);
	}
}

/* ---- catalog helpers ---- */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void make_cap(uint8_t seed, char out[CAPABILITY_STR_LEN + 1])
{
	struct capability cap;
	for (size_t i = 0; i < sizeof(cap.id); i++)
		cap.id[i] = (uint8_t)(seed * 31 + i);
	for (size_t i = 0; i < sizeof(cap.key); i++)
		cap.key[i] = (uint8_t)(seed * 7 + i * 3);
	capability_format(&cap, out);
}

struct listing {
	size_t count;
	char last[NAME_MAX_LEN + 1];
	uint8_t last_owner[NODE_ID_LEN];
	int ordered;
	int64_t time_us; /* of the last item */
};

static int list_one(const struct catalog_item *it, void *arg)
{
	struct listing *ls = arg;
	if (ls->count) {
		int c = strcmp(ls->last, it->name);
		if (c > 0 || (c == 0 && memcmp(ls->last_owner, it->owner, NODE_ID_LEN) >= 0))
			ls->ordered = 0;
	}
	snprintf(ls->last, sizeof(ls->last), "%s", it->name);
	memcpy(ls->last_owner, it->owner, NODE_ID_LEN);
	ls->time_us = it->time_us;
	ls->count++;
	return 0;
}

static struct listing list(struct tnode *n)
{
	struct listing ls = {.ordered = 1};
	assert_int_equal(catalog_foreach(n->catalog, list_one, &ls), 0);
	return ls;
}

static int has(struct tnode *n, const char *name)
{
	return catalog_lookup(n->catalog, name, NULL, NULL, NULL, NULL) == 0;
}

static int b_has_report(struct world *w)
{
	return has(w->b, "report.pdf");
}

static int b_lost_report(struct world *w)
{
	return !has(w->b, "report.pdf");
}

/* ---- tests ---- */

static void test_publish_floods(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], got[CAPABILITY_STR_LEN + 1];
	uint64_t size = 0;

	connect_nodes(w, 1);
	make_cap(1, cap);
	assert_int_equal(catalog_publish(w->a->catalog, "report.pdf", 1234, cap), 0);
	/* At once on a, then on b. */
	assert_int_equal(catalog_lookup(w->a->catalog, "report.pdf", NULL, got, &size, NULL), 0);
	run_until(w, b_has_report, "b to receive report.pdf");
	assert_int_equal(catalog_lookup(w->b->catalog, "report.pdf", NULL, got, &size, NULL), 0);
	assert_string_equal(got, cap);
	assert_int_equal(size, 1234);
	struct listing ls = list(w->b);
	assert_int_equal(ls.count, 1);
	assert_memory_equal(ls.last_owner, w->a->id, NODE_ID_LEN);

	/* Withdrawn: gone from both; only the owner can withdraw. */
	assert_int_equal(catalog_unpublish(w->b->catalog, "report.pdf"), SHOAL_ENOTFOUND);
	assert_int_equal(catalog_unpublish(w->a->catalog, "report.pdf"), 0);
	assert_int_equal(catalog_lookup(w->a->catalog, "report.pdf", NULL, got, &size, NULL),
			 SHOAL_ENOTFOUND);
	run_until(w, b_lost_report, "b to see the removal");
	assert_int_equal(list(w->b).count, 0);
	assert_int_equal(catalog_unpublish(w->a->catalog, "report.pdf"), SHOAL_ENOTFOUND);
	assert_int_equal(catalog_unpublish(w->a->catalog, "never.txt"), SHOAL_ENOTFOUND);

	/* Published again: newer than the removal, so it is back. */
	assert_int_equal(catalog_publish(w->a->catalog, "report.pdf", 99, cap), 0);
	run_until(w, b_has_report, "b to see report.pdf again");
	assert_int_equal(catalog_lookup(w->b->catalog, "report.pdf", NULL, NULL, &size, NULL), 0);
	assert_int_equal(size, 99);
	assert_false(w->la->closed || w->lb->closed);
}

static int all_synced(struct world *w)
{
	return list(w->a).count == 305 && list(w->b).count == 305;
}

static void test_link_up_sends_everything(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], name[32];

	/* Published while apart: nothing to flood to. */
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "file-%03d", i);
		make_cap((uint8_t)i, cap);
		assert_int_equal(catalog_publish(w->a->catalog, name, (uint64_t)i, cap), 0);
	}
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "b-file-%d", i);
		make_cap((uint8_t)(i + 100), cap);
		assert_int_equal(catalog_publish(w->b->catalog, name, 1, cap), 0);
	}
	connect_nodes(w, 1);
	run_until(w, all_synced, "both catalogs to hold 305 entries");
	/* 300 entries need at least 5 frames of at most 64. */
	assert_true(w->lb->frames[SHOAL__ENVELOPE__MSG_CATALOG_DELTA] >= 5);
	struct listing ls = list(w->b);
	assert_true(ls.ordered);
	assert_string_equal(ls.last, "file-299");
	uint64_t size = 0;
	assert_int_equal(catalog_lookup(w->b->catalog, "file-123", NULL, NULL, &size, NULL), 0);
	assert_int_equal(size, 123);
}

static int b_has_late(struct world *w)
{
	return has(w->b, "late");
}

static void test_digest_catches_up(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1];

	connect_nodes(w, 1);
	run_for(w, 0.1);
	/* a believes b is down: the publication is not flooded to it. */
	member_find(&w->a->mesh, w->b->id)->state = MEMBER_DOWN;
	make_cap(9, cap);
	assert_int_equal(catalog_publish(w->a->catalog, "late", 5, cap), 0);
	run_for(w, 0.3);
	assert_false(has(w->b, "late"));
	member_find(&w->a->mesh, w->b->id)->state = MEMBER_UP;
	/* Digests go out every 0.2 s; b's differs, so one side asks the other
	 * for everything and b catches up. */
	run_until(w, b_has_late, "b to catch up through the digest");
	assert_true(w->lb->frames[SHOAL__ENVELOPE__MSG_CATALOG_DIGEST] +
			    w->la->frames[SHOAL__ENVELOPE__MSG_CATALOG_DIGEST] >
		    0);
	assert_true(w->la->frames[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST] +
			    w->lb->frames[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST] >
		    0);
	/* Once equal, the digests match and nobody asks again. */
	run_for(w, 0.5);
	unsigned requests = w->la->frames[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST] +
			    w->lb->frames[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST];
	run_for(w, 1.0);
	assert_int_equal(w->la->frames[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST] +
				 w->lb->frames[SHOAL__ENVELOPE__MSG_CATALOG_REQUEST],
			 requests);
}

/* Loads key and DER certificate of the node in home. */
static void node_material(const char *home, EVP_PKEY **key, uint8_t **der, size_t *der_len)
{
	char path[PATH_MAX + 16];
	X509 *cert = NULL;
	unsigned char *p = NULL;
	snprintf(path, sizeof(path), "%s/node.key", home);
	assert_int_equal(identity_load_key(path, key), 0);
	snprintf(path, sizeof(path), "%s/node.crt", home);
	assert_int_equal(identity_load_cert(path, &cert), 0);
	int len = i2d_X509(cert, &p);
	assert_true(len > 0);
	*der = p;
	*der_len = (size_t)len;
	X509_free(cert);
}

static int b_has_good(struct world *w)
{
	return has(w->b, "good");
}

/* Counts lines containing needle in the file at path. */
static int count_lines(const char *path, const char *needle)
{
	struct buf text = BUF_INIT;
	int n = 0;
	assert_int_equal(read_file(path, &text, 1 << 20), 0);
	for (const char *p = buf_str(&text); (p = strstr(p, needle)); p++)
		n++;
	buf_release(&text);
	return n;
}

static void test_forged_entries_dropped(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], other_net[PATH_MAX], other_home[PATH_MAX], logp[PATH_MAX];
	uint8_t other_id[NODE_ID_LEN];
	EVP_PKEY *key, *okey;
	uint8_t *der, *oder;
	size_t der_len, oder_len;
	struct catalog_entry e[6];
	int64_t t = now_us(); /* removals from long ago would be news to no one */

	connect_nodes(w, 1);
	make_cap(3, cap);
	node_material(w->a->home, &key, &der, &der_len);
	snprintf(other_net, sizeof(other_net), "%s/other.pem", w->dir);
	snprintf(other_home, sizeof(other_home), "%s/other", w->dir);
	assert_int_equal(network_create(other_net), 0);
	assert_int_equal(mkdir(other_home, 0700), 0);
	assert_int_equal(identity_init(other_home, other_net, other_id), 0);
	node_material(other_home, &okey, &oder, &oder_len);

	/* Five bad entries around a good one, all in one delta from a. */
	assert_int_equal(catalog_entry_sign(key, der, der_len, "bad-sig", 1, cap, t, 0, &e[0]), 0);
	e[0].sig[5] ^= 1;
	assert_int_equal(catalog_entry_sign(key, der, der_len, "../x", 1, cap, t, 0, &e[1]), 0);
	assert_int_equal(catalog_entry_sign(key, der, der_len, "good", 7, cap, t, 0, &e[2]), 0);
	assert_int_equal(catalog_entry_sign(key, der, der_len, "gone", 0, cap, t, 1, &e[3]), 0);
	assert_int_equal(catalog_entry_sign(okey, oder, oder_len, "stranger", 1, cap, t, 0, &e[4]),
			 0);
	assert_int_equal(catalog_entry_sign(key, der, der_len, "badcap", 1, "shoal:x", t, 0, &e[5]),
			 0);
	Shoal__CatalogEntry items[6], *ptrs[6];
	for (int i = 0; i < 6; i++) {
		catalog_entry_to_pb(&e[i], &items[i]);
		ptrs[i] = &items[i];
	}
	Shoal__CatalogDelta d = SHOAL__CATALOG_DELTA__INIT;
	d.n_entries = 6;
	d.entries = ptrs;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_DELTA;
	env.catalog_delta = &d;

	/* The warnings go to stderr: catch them in a file. */
	snprintf(logp, sizeof(logp), "%s/log", w->dir);
	int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(logfd >= 0);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	log_init(LOG_LEVEL_WARN, 0);
	dup2(logfd, STDERR_FILENO);
	assert_int_equal(conn_send(w->la->l.c, &env, NULL, 0), 0);
	run_until(w, b_has_good, "b to take the good entry");
	run_for(w, 0.2);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logfd);
	log_init(LOG_LEVEL_ERROR, 0);

	assert_int_equal(list(w->b).count, 1);
	assert_false(has(w->b, "bad-sig"));
	assert_false(has(w->b, "../x"));
	assert_false(has(w->b, "stranger"));
	assert_false(has(w->b, "badcap"));
	/* One line each, naming the peer and why. */
	assert_int_equal(count_lines(logp, "dropped catalog entry"), 5);
	assert_int_equal(count_lines(logp, conn_remote(w->lb->l.c)), 5);
	assert_int_equal(count_lines(logp, "bad signature"), 1);
	assert_int_equal(count_lines(logp, "\"../x\": invalid name"), 1);
	assert_int_equal(count_lines(logp, "removal carries a capability"), 1);
	assert_int_equal(count_lines(logp, "certificate not issued by this network"), 1);
	assert_int_equal(count_lines(logp, "malformed capability"), 1);
	/* Still connected: b answers a's next publication. */
	assert_false(w->la->closed || w->lb->closed);
	assert_int_equal(catalog_publish(w->a->catalog, "report.pdf", 1, cap), 0);
	run_until(w, b_has_report, "b to receive report.pdf after the forgeries");

	for (int i = 0; i < 6; i++)
		catalog_entry_release(&e[i]);
	EVP_PKEY_free(key);
	EVP_PKEY_free(okey);
	OPENSSL_free(der);
	OPENSSL_free(oder);
}

static void test_persistence(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], got[CAPABILITY_STR_LEN + 1], path[PATH_MAX + 16];
	struct stat st;

	make_cap(4, cap);
	assert_int_equal(catalog_publish(w->a->catalog, "kept", 10, cap), 0);
	assert_int_equal(catalog_publish(w->a->catalog, "withdrawn", 11, cap), 0);
	assert_int_equal(catalog_unpublish(w->a->catalog, "withdrawn"), 0);
	cat_close(w->a);
	assert_null(w->a->catalog);
	catalog_close(NULL); /* nothing to do */
	snprintf(path, sizeof(path), "%s/catalog.log", w->a->home);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	cat_open(w, w->a);
	assert_int_equal(catalog_lookup(w->a->catalog, "kept", NULL, got, NULL, NULL), 0);
	assert_string_equal(got, cap);
	assert_false(has(w->a, "withdrawn"));
	assert_int_equal(list(w->a).count, 1);
	/* The removal came back too: withdrawing again finds nothing live, and
	 * a new publication is newer than it. */
	assert_int_equal(catalog_unpublish(w->a->catalog, "withdrawn"), SHOAL_ENOTFOUND);
	assert_int_equal(catalog_publish(w->a->catalog, "withdrawn", 12, cap), 0);
	assert_true(has(w->a, "withdrawn"));

	/* A corrupt file: the catalog starts empty, the node still starts. */
	cat_close(w->a);
	assert_int_equal(write_file_atomic(path, "\xff\xff\xff", 3, 0600), 0);
	cat_open(w, w->a);
	assert_int_equal(list(w->a).count, 0);
}

static void test_tampered_file_entries_dropped(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], path[PATH_MAX + 16];
	EVP_PKEY *key;
	uint8_t *der;
	size_t der_len;
	struct catalog_entry e[3];
	int64_t t = (int64_t)1700000000 * 1000000;

	make_cap(5, cap);
	node_material(w->a->home, &key, &der, &der_len);
	assert_int_equal(catalog_entry_sign(key, der, der_len, "fine", 1, cap, t, 0, &e[0]), 0);
	assert_int_equal(catalog_entry_sign(key, der, der_len, "edited", 1, cap, t, 0, &e[1]), 0);
	e[1].size = 1000000;
	assert_int_equal(catalog_entry_sign(key, der, der_len, "a/b", 1, cap, t, 0, &e[2]), 0);
	Shoal__CatalogEntry items[3], *ptrs[3];
	for (int i = 0; i < 3; i++) {
		catalog_entry_to_pb(&e[i], &items[i]);
		ptrs[i] = &items[i];
	}
	Shoal__CatalogFile f = SHOAL__CATALOG_FILE__INIT;
	f.n_entries = 3;
	f.entries = ptrs;
	size_t len = shoal__catalog_file__get_packed_size(&f);
	uint8_t *bytes = malloc(len);
	assert_non_null(bytes);
	shoal__catalog_file__pack(&f, bytes);
	/* The whole-file home/catalog of earlier versions, converted to the log
	 * at open with every entry checked again. */
	cat_close(w->b);
	snprintf(path, sizeof(path), "%s/catalog.log", w->b->home);
	/* A catalog that never changed wrote no log. */
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/catalog", w->b->home);
	assert_int_equal(write_file_atomic(path, bytes, len, 0600), 0);
	cat_open(w, w->b);
	assert_true(has(w->b, "fine"));
	assert_false(has(w->b, "edited"));
	assert_int_equal(list(w->b).count, 1);
	assert_int_equal(access(path, F_OK), -1); /* converted, then removed */
	snprintf(path, sizeof(path), "%s/catalog.log", w->b->home);
	assert_int_equal(access(path, F_OK), 0);
	cat_close(w->b);
	cat_open(w, w->b);
	assert_true(has(w->b, "fine"));
	assert_int_equal(list(w->b).count, 1);

	free(bytes);
	for (int i = 0; i < 3; i++)
		catalog_entry_release(&e[i]);
	EVP_PKEY_free(key);
	OPENSSL_free(der);
}

static int a_file_saved(struct world *w)
{
	char path[PATH_MAX + 16];
	struct stat st;
	snprintf(path, sizeof(path), "%s/catalog.log", w->a->home);
	return stat(path, &st) == 0 && st.st_size > CATLOG_MAGIC_LEN;
}

static void test_saved_from_tick(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1];

	make_cap(6, cap);
	assert_false(a_file_saved(w));
	assert_int_equal(catalog_publish(w->a->catalog, "saved", 1, cap), 0);
	run_until(w, a_file_saved, "the tick to save home/catalog");
	/* Another change, and close while its save may be running. */
	assert_int_equal(catalog_publish(w->a->catalog, "second", 2, cap), 0);
	run_for(w, 2.1);
	assert_int_equal(catalog_publish(w->a->catalog, "third", 3, cap), 0);
	catalog_tick(w->a->catalog, monotonic_seconds());
	cat_close(w->a);
	run_for(w, 0.05);
	cat_open(w, w->a);
	assert_int_equal(list(w->a).count, 3);
}

struct stop_after {
	int seen;
};

static int stop_at_two(const struct catalog_item *it, void *arg)
{
	(void)it;
	struct stop_after *s = arg;
	return ++s->seen == 2 ? 42 : 0;
}

static int a_sees_b_shared(struct world *w)
{
	char got[CAPABILITY_STR_LEN + 1], want[CAPABILITY_STR_LEN + 1], b[NODE_ID_STR_LEN + 1];
	make_cap(21, want);
	node_id_format(w->b->id, b);
	return catalog_lookup(w->a->catalog, "shared", b, got, NULL, NULL) == 0 &&
	       !strcmp(got, want);
}

static void test_publish_rules(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], cap2[CAPABILITY_STR_LEN + 1];

	make_cap(20, cap);
	make_cap(21, cap2);
	assert_int_equal(catalog_publish(w->a->catalog, "../x", 1, cap), SHOAL_EBADNAME);
	assert_int_equal(catalog_publish(w->a->catalog, "a/b", 1, cap), SHOAL_EBADNAME);
	assert_int_equal(catalog_publish(w->a->catalog, "", 1, cap), SHOAL_EBADNAME);
	assert_int_equal(catalog_publish(w->a->catalog, "ok", 1, "shoal:nope"), SHOAL_EBADCAP);
	assert_int_equal(catalog_publish(w->a->catalog, "ok", 1, NULL), SHOAL_EBADCAP);
	assert_int_equal(list(w->a).count, 0);

	/* The same publication twice is one entry, newer the second time. */
	assert_int_equal(catalog_publish(w->a->catalog, "ok", 1, cap), 0);
	int64_t first = list(w->a).time_us;
	assert_int_equal(catalog_publish(w->a->catalog, "ok", 1, cap), 0);
	assert_true(list(w->a).time_us > first);
	first = list(w->a).time_us;
	/* A change is a newer entry, even within the same microsecond. */
	assert_int_equal(catalog_publish(w->a->catalog, "ok", 2, cap), 0);
	assert_true(list(w->a).time_us > first);
	assert_int_equal(list(w->a).count, 1);

	/* Two owners, one name: both listed, neither chosen without an owner. */
	connect_nodes(w, 1);
	assert_int_equal(catalog_publish(w->a->catalog, "shared", 1, cap), 0);
	run_for(w, 0.05);
	assert_int_equal(catalog_publish(w->b->catalog, "shared", 2, cap2), 0);
	run_until(w, a_sees_b_shared, "a to see b's \"shared\"");
	struct listing ls = list(w->a);
	assert_int_equal(ls.count, 3);
	assert_true(ls.ordered);
	struct stop_after s = {0};
	assert_int_equal(catalog_foreach(w->a->catalog, stop_at_two, &s), 42);
	assert_int_equal(s.seen, 2);
}

static int a_has_q3(struct world *w)
{
	return has(w->a, "q3-report");
}

static size_t owners_of(struct tnode *n, const char *name)
{
	struct catalog_owners owners;
	catalog_lookup(n->catalog, name, NULL, NULL, NULL, &owners);
	return owners.n;
}

static int b_sees_two_q3(struct world *w)
{
	return owners_of(w->b, "q3-report") == 2;
}

static int b_sees_one_q3(struct world *w)
{
	return owners_of(w->b, "q3-report") == 1;
}

static int count_record(const uint8_t *payload, size_t len, void *arg)
{
	(void)payload;
	(void)len;
	(void)arg;
	return 0;
}
/* Sends entries e[0..n) from a to b in one CatalogDelta. */
static void send_entries(struct world *w, struct catalog_entry *e, size_t n)
{
	Shoal__CatalogEntry items[8], *ptrs[8];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		catalog_entry_to_pb(&e[i], &items[i]);
		ptrs[i] = &items[i];
	}
	Shoal__CatalogDelta d = SHOAL__CATALOG_DELTA__INIT;
	d.n_entries = n;
	d.entries = ptrs;
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	env.msg_case = SHOAL__ENVELOPE__MSG_CATALOG_DELTA;
	env.catalog_delta = &d;
	assert_int_equal(conn_send(w->la->l.c, &env, NULL, 0), 0);
}

static int b_has_near(struct world *w)
{
	return has(w->b, "near-future");
}

static void test_names_belong_to_owners(void **state)
{
	struct world *w = *state;
	char cap_a[CAPABILITY_STR_LEN + 1], cap_b[CAPABILITY_STR_LEN + 1];
	char got[CAPABILITY_STR_LEN + 1], a[NODE_ID_STR_LEN + 1], b[NODE_ID_STR_LEN + 1];
	char prefix[NODE_ID_STR_LEN + 1];
	struct catalog_owners owners;
	EVP_PKEY *key;
	uint8_t *der;
	size_t der_len;
	struct catalog_entry e[2];

	make_cap(30, cap_a);
	make_cap(31, cap_b);
	node_id_format(w->a->id, a);
	node_id_format(w->b->id, b);
	connect_nodes(w, 1);
	assert_int_equal(catalog_publish(w->b->catalog, "q3-report", 1, cap_b), 0);
	run_until(w, a_has_q3, "a to see b's q3-report");
	/* One owner: the name resolves to it. */
	assert_int_equal(catalog_lookup(w->a->catalog, "q3-report", NULL, got, NULL, NULL), 0);
	assert_string_equal(got, cap_b);

	/* a's entry of the same name, however new, does not replace b's: the
	 * name becomes ambiguous, and each owner's entry stays reachable. */
	assert_int_equal(catalog_publish(w->a->catalog, "q3-report", 2, cap_a), 0);
	run_until(w, b_sees_two_q3, "b to see both q3-reports");
	assert_int_equal(catalog_lookup(w->b->catalog, "q3-report", NULL, got, NULL, &owners),
			 SHOAL_EAMBIGUOUS);
	assert_int_equal(owners.n, 2);
	assert_true(memcmp(owners.ids[0], owners.ids[1], NODE_ID_LEN) < 0);
	assert_int_equal(catalog_lookup(w->b->catalog, "q3-report", b, got, NULL, NULL), 0);
	assert_string_equal(got, cap_b);
	/* A prefix of 8 characters, in either case, chooses too; 7 do not. */
	memcpy(prefix, a, 8);
	prefix[8] = 0;
	for (char *p = prefix; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	assert_int_equal(catalog_lookup(w->b->catalog, "q3-report", prefix, got, NULL, NULL), 0);
	assert_string_equal(got, cap_a);
	prefix[7] = 0;
	assert_int_equal(catalog_lookup(w->b->catalog, "q3-report", prefix, got, NULL, NULL),
			 SHOAL_ENOTFOUND);

	/* Far in the future: refused (a signs it, as a misbehaving member
	 * would); a few minutes ahead of our clock: taken. */
	node_material(w->a->home, &key, &der, &der_len);
	int64_t year_2100 = (int64_t)4102444800 * 1000000;
	assert_int_equal(
		catalog_entry_sign(key, der, der_len, "q3-report", 9, cap_a, year_2100, 0, &e[0]),
		0);
	assert_int_equal(catalog_entry_sign(key, der, der_len, "near-future", 9, cap_a,
					    now_us() + 60 * 1000000, 0, &e[1]),
			 0);
	send_entries(w, e, 2);
	run_until(w, b_has_near, "b to take the entry a minute ahead");
	assert_int_equal(catalog_lookup(w->b->catalog, "q3-report", a, got, NULL, NULL), 0);
	assert_string_equal(got, cap_a); /* the one before, not the year 2100's */

	/* An owner's removal wins over its own entries: b's q3-report alone is
	 * left, and resolves again without an owner. */
	assert_int_equal(catalog_unpublish(w->a->catalog, "q3-report"), 0);
	run_until(w, b_sees_one_q3, "b to see a's removal");
	assert_int_equal(catalog_lookup(w->b->catalog, "q3-report", NULL, got, NULL, NULL), 0);
	assert_string_equal(got, cap_b);
	for (int i = 0; i < 2; i++)
		catalog_entry_release(&e[i]);
	EVP_PKEY_free(key);
	OPENSSL_free(der);
}

static int b_holds_three(struct world *w)
{
	return list(w->b).count == 3;
}

static void test_member_budget(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], name[32], logp[PATH_MAX];

	make_cap(40, cap);
	w->b->cfg.catalog_per_member = 3;
	w->a->cfg.catalog_per_member = 5;
	connect_nodes(w, 1);
	snprintf(logp, sizeof(logp), "%s/log", w->dir);
	int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int saved = dup(STDERR_FILENO);
	assert_true(logfd >= 0 && saved >= 0);
	log_init(LOG_LEVEL_WARN, 0);
	dup2(logfd, STDERR_FILENO);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "file-%d", i);
		assert_int_equal(catalog_publish(w->a->catalog, name, 1, cap), 0);
	}
	/* a's own budget: a sixth name is refused, a republication is not. */
	assert_int_equal(catalog_publish(w->a->catalog, "file-5", 1, cap), SHOAL_ETOOBIG);
	assert_int_equal(catalog_publish(w->a->catalog, "file-0", 2, cap), 0);
	run_until(w, b_holds_three, "b to take a's first three");
	run_for(w, 0.5);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logfd);
	log_init(LOG_LEVEL_ERROR, 0);
	assert_int_equal(list(w->b).count, 3);
	assert_int_equal(list(w->a).count, 5);
	/* One line for the member, however many were refused. */
	assert_int_equal(count_lines(logp, "catalog_per_member"), 1);
	/* b's own publications have budgets of their own. */
	assert_int_equal(catalog_publish(w->b->catalog, "mine", 1, cap), 0);
	assert_int_equal(list(w->b).count, 4);
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Runs both loops until a's log has no writes pending or running. */
static void settle_a(struct world *w)
{
	run_for(w, 2.2); /* past SAVE_INTERVAL */
	catalog_tick(w->a->catalog, monotonic_seconds() + 10);
	run_for(w, 0.2);
}

static void test_log_appends(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], name[32], path[PATH_MAX + 16];

	make_cap(50, cap);
	snprintf(path, sizeof(path), "%s/catalog.log", w->a->home);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "file-%03d", i);
		assert_int_equal(catalog_publish(w->a->catalog, name, (uint64_t)i, cap), 0);
	}
	settle_a(w);
	off_t full = file_size(path);
	assert_true(full > 300 * 200);
	/* One update appends one record, not the whole catalog. */
	assert_int_equal(catalog_publish(w->a->catalog, "file-007", 1234, cap), 0);
	settle_a(w);
	off_t grown = file_size(path);
	assert_true(grown > full);
	assert_true(grown - full < 2048);

	/* A torn append (a crash): the intact records load, the tail goes. */
	cat_close(w->a);
	full = file_size(path);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\0\0\x01\0torn", 8), 8);
	close(fd);
	cat_open(w, w->a);
	assert_int_equal(list(w->a).count, 300);
	uint64_t size = 0;
	assert_int_equal(catalog_lookup(w->a->catalog, "file-007", NULL, NULL, &size, NULL), 0);
	assert_int_equal(size, 1234);
	settle_a(w);
	assert_true(file_size(path) < full); /* rewritten whole, without the tail */

	/* A damaged record is skipped; the others load. */
	cat_close(w->a);
	struct buf raw = BUF_INIT;
	assert_int_equal(read_file(path, &raw, 64 << 20), 0);
	raw.data[CATLOG_MAGIC_LEN + 40] ^= 0x20; /* inside the first record */
	assert_int_equal(write_file_atomic(path, raw.data, raw.len, 0600), 0);
	buf_release(&raw);
	cat_open(w, w->a);
	assert_int_equal(list(w->a).count, 299);
	assert_false(has(w->a, "file-000"));
	assert_true(has(w->a, "file-001"));
}

static void test_old_removals_forgotten(void **state)
{
	struct world *w = *state;
	char cap[CAPABILITY_STR_LEN + 1], path[PATH_MAX + 16];
	EVP_PKEY *key;
	uint8_t *der;
	size_t der_len;
	struct catalog_entry e[3];
	int64_t day = (int64_t)86400 * 1000000, t = now_us();

	make_cap(60, cap);
	node_material(w->a->home, &key, &der, &der_len);
	/* In b's log: a's "old" published 40 days ago and removed 31 days ago,
	 * and "recent" removed yesterday. */
	assert_int_equal(
		catalog_entry_sign(key, der, der_len, "old", 1, cap, t - 40 * day, 0, &e[0]), 0);
	assert_int_equal(
		catalog_entry_sign(key, der, der_len, "old", 0, NULL, t - 31 * day, 1, &e[1]), 0);
	assert_int_equal(
		catalog_entry_sign(key, der, der_len, "recent", 0, NULL, t - day, 1, &e[2]), 0);
	struct buf log = BUF_INIT;
	buf_add(&log, CATLOG_MAGIC, CATLOG_MAGIC_LEN);
	for (int i = 0; i < 3; i++) {
		Shoal__CatalogEntry m;
		uint8_t packed[CATLOG_PAYLOAD_MAX];
		catalog_entry_to_pb(&e[i], &m);
		size_t len = shoal__catalog_entry__get_packed_size(&m);
		shoal__catalog_entry__pack(&m, packed);
		assert_int_equal(catlog_append(&log, packed, len), 0);
	}
	cat_close(w->b);
	snprintf(path, sizeof(path), "%s/catalog.log", w->b->home);
	assert_int_equal(write_file_atomic(path, log.data, log.len, 0600), 0);
	buf_release(&log);
	cat_open(w, w->b);
	/* "old" is gone with its removal; "recent"'s removal is kept. */
	assert_false(has(w->b, "old"));
	assert_int_equal(list(w->b).count, 0);
	/* Sent again by a member that kept it, the old removal is no news. */
	connect_nodes(w, 0);
	send_entries(w, &e[1], 1);
	run_for(w, 0.3);
	cat_close(w->b); /* writes what changed */
	struct buf raw = BUF_INIT;
	assert_int_equal(read_file(path, &raw, 1 << 20), 0);
	struct catlog_scan scan;
	assert_int_equal(
		catlog_parse((const uint8_t *)raw.data, raw.len, count_record, NULL, &scan), 0);
	assert_int_equal(scan.records, 1); /* "recent"'s removal alone */
	buf_release(&raw);
	cat_open(w, w->b);
	for (int i = 0; i < 3; i++)
		catalog_entry_release(&e[i]);
	EVP_PKEY_free(key);
	OPENSSL_free(der);
}

static void test_without_catalog(void **state)
{
	(void)state;
	char cap[CAPABILITY_STR_LEN + 1];
	make_cap(1, cap);
	assert_int_equal(catalog_publish(NULL, "x", 1, cap), SHOAL_EIDENTITY);
	assert_int_equal(catalog_unpublish(NULL, "x"), SHOAL_ENOTFOUND);
	assert_int_equal(catalog_lookup(NULL, "x", NULL, cap, NULL, NULL), SHOAL_ENOTFOUND);
	assert_int_equal(catalog_foreach(NULL, stop_at_two, NULL), 0);
	catalog_tick(NULL, 1.0);
	catalog_close(NULL);
	/* A home without an identity cannot have a catalog (the error line it
	 * logs is expected: keep it out of the test's output). */
	struct config cfg;
	struct mesh mesh;
	uint8_t id[NODE_ID_LEN] = {0};
	config_defaults(&cfg);
	mesh_init(&mesh, id, &cfg);
	struct catalog *cat = (struct catalog *)&cfg; /* must be reset to NULL */
	int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, STDERR_FILENO);
	int err = catalog_open(&cat, "/nonexistent/shoal-home", &mesh, &cfg, NULL, NULL, NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(null);
	assert_true(err < 0);
	assert_null(cat);
}

int main(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	if (evthread_use_pthreads())
		return 1;
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_floods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_up_sends_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_catches_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forged_entries_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_file_entries_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_saved_from_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_belong_to_owners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_member_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_removals_forgotten, setup, teardown),
		cmocka_unit_test(test_without_catalog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
