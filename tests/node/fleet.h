/*
 * An in-process fixture for the daemon's modules: a few real nodes (node_open
 * on one event loop, real stores in a temporary directory, real TLS between
 * them on 127.0.0.1 with ports from the kernel) that the test drives from the
 * loop thread. fleet_start() waits until every node sees every other up;
 * fleet_run_until() turns the loop until a condition holds; fleet_call()
 * makes one request to another node the way the store threads do
 * (remote.h) and turns the loop until it is answered; fleet_stop() stops the
 * nodes and removes the directory. Header-only, like ../fixture.h.
 */
#ifndef SHOAL_TESTS_NODE_FLEET_H
#define SHOAL_TESTS_NODE_FLEET_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>

#include "../fixture.h"
#include "crypto/identity.h"
#include "node/home.h"
#include "node/mesh.h"
#include "node/node.h"
#include "node/remote.h"
#include "util/clock.h"
#include "util/log.h"

#define FLEET_MAX	   4
#define FLEET_WAIT_SECONDS 20.0

struct fleet {
	char dir[TEST_DIR_SIZE];
	char net[PATH_MAX];
	struct event_base *base;
	struct event *wake;
	unsigned count;
	char homes[FLEET_MAX][PATH_MAX];
	uint8_t ids[FLEET_MAX][NODE_ID_LEN];
	struct config cfg[FLEET_MAX];
	struct node *nodes[FLEET_MAX];
};

/* What a test program of nodes sets up first in main(): quiet logs, libevent's
 * threads, no SIGPIPE. 0, or -1 when libevent lacks thread support. */
static inline int fleet_process_init(void)
{
	log_init(LOG_LEVEL_ERROR, 0);
	signal(SIGPIPE, SIG_IGN);
	return evthread_use_pthreads() ? -1 : 0;
}

static inline void fleet__wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Turns the loop until cond(f, arg) holds; fails the test after
 * FLEET_WAIT_SECONDS. */
static inline void fleet_run_until(struct fleet *f, int (*cond)(struct fleet *, void *), void *arg,
				   const char *what)
{
	double deadline = monotonic_seconds() + FLEET_WAIT_SECONDS;
	while (!cond(f, arg)) {
		if (monotonic_seconds() > deadline)
			fail_msg("timed out waiting for %s", what);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
}

/* Turns the loop for about secs seconds. */
static inline void fleet_run_for(struct fleet *f, double secs)
{
	double end = monotonic_seconds() + secs;
	while (monotonic_seconds() < end)
		event_base_loop(f->base, EVLOOP_ONCE);
}

static inline int fleet__all_up(struct fleet *f, void *arg)
{
	(void)arg;
	for (unsigned i = 0; i < f->count; i++) {
		unsigned up, down;
		mesh_counts(node_mesh(f->nodes[i]), &up, &down);
		if (up != f->count - 1)
			return 0;
	}
	return 1;
}

/* Opens node i (its home already made), bootstrapping from node 0. */
static inline void fleet_open(struct fleet *f, unsigned i)
{
	assert_null(f->nodes[i]);
	assert_int_equal(node_open(&f->nodes[i], f->homes[i], &f->cfg[i], f->base), 0);
}

/* Makes count nodes; cfg_edit (may be NULL) adjusts each node's settings. */
static inline void fleet_start(struct fleet *f, unsigned count,
			       void (*cfg_edit)(unsigned i, struct config *cfg))
{
	memset(f, 0, sizeof(*f));
	assert_true(count >= 1 && count <= FLEET_MAX);
	f->count = count;
	assert_int_equal(test_dir_make(f->dir, "fleet"), 0);
	snprintf(f->net, sizeof(f->net), "%s/net.pem", f->dir);
	assert_int_equal(network_create(f->net), 0);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->wake = event_new(f->base, -1, EV_PERSIST, fleet__wake, NULL);
	struct timeval tv = {0, 10000};
	event_add(f->wake, &tv);
	for (unsigned i = 0; i < count; i++) {
		struct config *cfg = &f->cfg[i];
		config_defaults(cfg);
		snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:0");
		cfg->ping_interval = 0.2;
		cfg->peer_timeout = 3;
		cfg->gossip_interval = 0.2;
		cfg->backoff_max = 0.5;
		cfg->scrub_rate = 0;
		if (i > 0)
			snprintf(cfg->bootstrap, sizeof(cfg->bootstrap), "%s",
				 node_listen_addr(f->nodes[0]));
		if (cfg_edit)
			cfg_edit(i, cfg);
		snprintf(f->homes[i], sizeof(f->homes[i]), "%s/n%u", f->dir, i);
		assert_int_equal(home_init(f->homes[i], f->net, NULL, cfg, f->ids[i], NULL), 0);
		fleet_open(f, i);
	}
	fleet_run_until(f, fleet__all_up, NULL, "every node to see the others up");
}

/* Stops node i (its home stays). */
static inline void fleet_close(struct fleet *f, unsigned i)
{
	node_close(f->nodes[i]);
	f->nodes[i] = NULL;
}

static inline void fleet_stop(struct fleet *f)
{
	for (unsigned i = 0; i < f->count; i++) {
		if (f->nodes[i])
			fleet_close(f, i);
	}
	event_free(f->wake);
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	event_base_free(f->base);
	assert_int_equal(test_dir_remove(f->dir), 0);
}

/* cmocka setup and teardown for tests on two nodes: *state is the fleet. */
static inline int fleet_setup_pair(void **state)
{
	struct fleet *f = malloc(sizeof(*f));
	assert_non_null(f);
	fleet_start(f, 2, NULL);
	*state = f;
	return 0;
}

static inline int fleet_teardown(void **state)
{
	fleet_stop(*state);
	free(*state);
	return 0;
}

/* A test on two fresh nodes. */
#define FLEET_PAIR_TEST(fn) cmocka_unit_test_setup_teardown(fn, fleet_setup_pair, fleet_teardown)

/* Starts c from node `from` to node `to` (c's kind and fields set by the
 * caller) and turns the loop until it is answered; returns c->err. */
static inline int fleet_call(struct fleet *f, unsigned from, unsigned to, struct rcall *c)
{
	struct rqueue q;
	rqueue_init(&q);
	memcpy(c->peer, f->ids[to], NODE_ID_LEN);
	if (c->timeout == 0)
		c->timeout = FLEET_WAIT_SECONDS;
	remote_start(node_remote(f->nodes[from]), c, &q);
	double deadline = monotonic_seconds() + FLEET_WAIT_SECONDS + 1;
	struct rcall *done;
	while (!(done = rqueue_poll(&q))) {
		if (monotonic_seconds() > deadline)
			fail_msg("no answer to a call");
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	assert_ptr_equal(done, c);
	rqueue_destroy(&q);
	return c->err;
}

#endif
