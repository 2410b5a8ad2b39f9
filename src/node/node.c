/*
 * The node's life: start-up (identity, TLS, store, listener, control socket,
 * known members), the accept path with its limits, the periodic tick, and an
 * orderly stop on SIGTERM or SIGINT. See node.h.
 */
#include "node/node.h"

#include <errno.h>
#include <malloc.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "node/catalog.h"
#include "node/remote.h"
#include "node/repair.h"
#include "node/serve.h"
#include "util/error.h"
#include "util/log.h"

#define TICK_SECONDS 0.25

double node_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct link *node_link_new(struct node *n)
{
	struct link *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->n = n;
	l->serial = ++n->next_serial;
	l->next = n->links;
	if (n->links)
		n->links->prev = l;
	n->links = l;
	n->nlinks++;
	n->npending++;
	return l;
}

struct link *node_link_find(struct node *n, uint64_t serial)
{
	for (struct link *l = n->links; l; l = l->next) {
		if (l->serial == serial)
			return l;
	}
	return NULL;
}

struct link *node_dial(struct node *n, const char *addr, const uint8_t *expect)
{
	struct link *l = node_link_new(n);
	if (!l)
		return NULL;
	if (expect) {
		memcpy(l->expect, expect, NODE_ID_LEN);
		l->has_expect = 1;
	}
	struct conn_params p = n->conn_params;
	p.arg = l;
	l->c = conn_connect(n->base, addr, &p);
	if (!l->c) {
		/* Unusable address: unlink again; the caller backs off. */
		if (l->prev)
			l->prev->next = l->next;
		else
			n->links = l->next;
		if (l->next)
			l->next->prev = l->prev;
		n->nlinks--;
		n->npending--;
		free(l);
		return NULL;
	}
	conn_set_user(l->c, l);
	return l;
}

/* Refusals during a flood are one line a second, with a count of the rest. */
static void log_refusal(struct node *n, const char *host, const char *why)
{
	double now = node_now();
	if (now - n->refused_log_at < 1.0) {
		n->refused_quiet++;
		return;
	}
	if (n->refused_quiet)
		log_warnx("refused connection from %s: %s (and %u more refused in the last "
			  "second)",
			  host, why, n->refused_quiet);
	else
		log_warnx("refused connection from %s: %s", host, why);
	n->refused_log_at = now;
	n->refused_quiet = 0;
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	(void)lis;
	struct node *n = arg;
	char host[64] = "?";
	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host,
				 sizeof(host));
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host,
				 sizeof(host));
	const char *why = NULL;
	if (n->nlinks >= n->cfg.max_connections) {
		why = "too many connections";
	} else if (n->npending >= n->cfg.max_pending) {
		why = "too many connections in their handshake";
	} else {
		unsigned same = 0;
		for (struct link *l = n->links; l; l = l->next) {
			if (!l->authenticated && !conn_outbound(l->c) &&
			    !strcmp(conn_remote_host(l->c), host))
				same++;
		}
		if (same >= n->cfg.max_pending_per_host)
			why = "too many unauthenticated connections from this address";
	}
	if (why) {
		log_refusal(n, host, why);
		evutil_closesocket(fd);
		return;
	}
	struct link *l = node_link_new(n);
	if (!l) {
		evutil_closesocket(fd);
		return;
	}
	struct conn_params p = n->conn_params;
	p.arg = l;
	l->c = conn_accept(n->base, fd, sa, salen, &p);
	if (!l->c) {
		/* conn_accept closed fd; drop the link through the usual path. */
		n->links = l->next;
		if (l->next)
			l->next->prev = NULL;
		n->nlinks--;
		n->npending--;
		free(l);
		return;
	}
	conn_set_user(l->c, l);
}

static void resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

static void on_accept_error(struct evconnlistener *lis, void *arg)
{
	struct node *n = arg;
	int err = EVUTIL_SOCKET_ERROR();
	log_warnx("accepting connections: %s", evutil_socket_error_to_string(err));
	/* Out of descriptors and the like: pause briefly instead of spinning. */
	evconnlistener_disable(lis);
	struct timeval tv = {1, 0};
	evtimer_add(n->accept_resume, &tv);
}

static int start_listener(struct node *n)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	if (addr_parse_numeric(n->cfg.listen, &ss, &len)) {
		log_error("listen address %s is not a numeric IP:PORT", n->cfg.listen);
		return SHOAL_ECONFIG;
	}
	n->listener = evconnlistener_new_bind(n->base, on_accept, n,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
						      LEV_OPT_CLOSE_ON_EXEC,
					      128, (struct sockaddr *)&ss, len);
	if (!n->listener) {
		int err = EVUTIL_SOCKET_ERROR();
		log_error("cannot listen on %s: %s", n->cfg.listen,
			  evutil_socket_error_to_string(err));
		return -err;
	}
	evconnlistener_set_error_cb(n->listener, on_accept_error);
	n->accept_resume = evtimer_new(n->base, resume_accepting, n->listener);
	if (!n->accept_resume)
		return -ENOMEM;
	/* Report the port the kernel chose when asked for port 0. */
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	getsockname(evconnlistener_get_fd(n->listener), (struct sockaddr *)&bound, &blen);
	char host[64];
	int port;
	if (bound.ss_family == AF_INET6) {
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, host,
				 sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
		snprintf(n->listen_addr, sizeof(n->listen_addr), "[%s]:%d", host, port);
	} else {
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, host,
				 sizeof(host));
		port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		snprintf(n->listen_addr, sizeof(n->listen_addr), "%s:%d", host, port);
	}
	return 0;
}

static void load_bootstraps(struct node *n)
{
	char copy[ADDR_LIST_MAX];
	snprintf(copy, sizeof(copy), "%s", n->cfg.bootstrap);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && n->nbootstraps < NODE_BOOTSTRAP_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		struct bootstrap *b = &n->bootstraps[n->nbootstraps++];
		memset(b, 0, sizeof(*b));
		snprintf(b->addr, sizeof(b->addr), "%s", tok);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	double now = node_now();
	members_tick(n, now);
	remote_tick(n, now);
	serve_tick(n, now);
	catalog_tick(n, now);
	repair_tick(n, now);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct node *n = arg;
	log_info("%s received; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(n->base);
}

static void node_stop(struct node *n)
{
	/* Threads waiting on other nodes are released first, then stopped. */
	remote_shutdown(n);
	ctl_stop(n);
	serve_stop(n);
	/* Close every connection now: peers see the TCP close at once. */
	while (n->links) {
		struct link *l = n->links;
		n->links = l->next;
		conn_free(l->c);
		free(l);
	}
	if (n->accept_resume)
		event_free(n->accept_resume);
	if (n->listener)
		evconnlistener_free(n->listener);
	if (n->tick)
		event_free(n->tick);
	if (n->sig_term)
		event_free(n->sig_term);
	if (n->sig_int)
		event_free(n->sig_int);
	/* Workers finish what they hold before the loop's bridge goes away. */
	pool_free(n->pool);
	loopwork_free(n->lw);
	serve_free(n);
	catalog_close(n);
	repair_free(n);
	index_close(n->ix);
	store_close(n->store);
	SSL_CTX_free(n->ssl);
	if (n->base) {
		/* Freed bufferevents finish freeing in deferred callbacks; one
		 * last non-blocking pass runs them, or they would leak. */
		event_base_loop(n->base, EVLOOP_NONBLOCK);
		event_base_free(n->base);
	}
}

int node_run(const char *home, const struct config *cfg)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return 1;
	int status = 1;
	snprintf(n->home, sizeof(n->home), "%s", home);
	n->cfg = *cfg;
	signal(SIGPIPE, SIG_IGN);
	/* Chunk-sized buffers (4 MiB) come and go for every transfer; keep them
	 * in the heap for reuse instead of mapping and faulting them in anew. */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	if (evthread_use_pthreads())
		fatalx("libevent lacks thread support");
	int err = identity_load_id(home, n->id);
	if (err) {
		log_error("%s is not a shoal node home (run 'shoal init' first): %s", home,
			  shoal_strerror(err));
		goto out;
	}
	node_id_format(n->id, n->id_text);
	err = store_open(&n->store, home, STORE_NOWAIT);
	if (err == -EWOULDBLOCK) {
		log_error("another shoal daemon or command is using %s", home);
		goto out;
	}
	if (err) {
		log_error("cannot open the store in %s: %s", home, shoal_strerror(err));
		goto out;
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/index.sqlite", home);
	if (index_open(&n->ix, path))
		goto out;
	if (tls_ctx_new(home, &n->ssl))
		goto out;
	n->base = event_base_new();
	if (!n->base)
		goto out;
	/* Twice the CPUs: jobs spend much of their time waiting on the disk. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	n->pool = pool_new(ncpu > 0 ? 2 * (unsigned)ncpu : 2);
	n->lw = loopwork_new(n->base, n->pool);
	n->conn_params.ssl_ctx = n->ssl;
	n->conn_params.handshake_timeout = cfg->handshake_timeout;
	n->conn_params.ops = &node_peer_ops;
	if (start_listener(n))
		goto out;
	if (serve_start(n))
		goto out;
	if (catalog_open(n))
		goto out;
	if (repair_start(n))
		goto out;
	if (ctl_start(n))
		goto out;
	load_bootstraps(n);
	members_load(n);
	n->tick = event_new(n->base, -1, EV_PERSIST, on_tick, n);
	struct timeval tv = {0, (suseconds_t)(TICK_SECONDS * 1e6)};
	event_add(n->tick, &tv);
	n->sig_term = evsignal_new(n->base, SIGTERM, on_signal, n);
	n->sig_int = evsignal_new(n->base, SIGINT, on_signal, n);
	event_add(n->sig_term, NULL);
	event_add(n->sig_int, NULL);
	log_info("node %s listening on %s (%u known members, %u bootstrap addresses)", n->id_text,
		 n->listen_addr, n->nmembers, n->nbootstraps);
	members_tick(n, node_now());
	event_base_dispatch(n->base);
	status = 0;
out:
	node_stop(n);
	if (status == 0)
		log_info("stopped");
	free(n);
	return status;
}
