/*
 * The node's life: start-up (identity, TLS, store, listener, the modules in
 * order), the accept path with its limits, the periodic tick, and an orderly
 * stop. See node.h.
 */
#include "node/node.h"

#include <errno.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/tls.h"
#include "node/catalog.h"
#include "node/ctl.h"
#include "node/folder.h"
#include "node/members.h"
#include "node/mesh.h"
#include "node/ops.h"
#include "node/peer.h"
#include "node/remote.h"
#include "node/repair.h"
#include "node/serve.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

#define TICK_SECONDS	     0.25
#define EXPIRY_CHECK_SECONDS 86400.0

struct node {
	struct event_base *base;
	char home[PATH_MAX];
	struct config cfg;
	uint8_t id[NODE_ID_LEN];
	char id_text[NODE_ID_STR_LEN + 1];
	char listen_addr[ADDR_MAX]; /* as bound (port resolved) */
	SSL_CTX *ssl;
	struct evconnlistener *listener;
	struct event *accept_resume; /* re-enables accepting after an error */
	struct event *tick;
	struct conn_params conn_params;
	double refused_log_at; /* rate limit for "refused connection" lines */
	double last_drain_tick;
	char nickname[NICKNAME_MAX + 1];
	int64_t cert_expires;
	double last_expiry_check;
	struct event *leave_exit; /* ends the loop once Leave went out */
	unsigned refused_quiet;
	/* the modules, in the order they start */
	struct store *store;
	struct pool *pool;
	struct loopwork *lw;
	struct mesh mesh;
	struct ops *ops;
	struct remote remote;
	struct members members;
	struct catalog *catalog;
	struct serve *serve;
	struct repair *repair;
	struct revocations rv;
	struct trust trust;
	struct recovery *recovery;
	struct folders *folders;
	struct peer peer;
	struct ctl *ctl;
};

/* Refusals during a flood are one line a second, with a count of the rest. */
static void log_refusal(struct node *n, const char *host, const char *why)
{
	double now = monotonic_seconds();
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
	struct mesh *mesh = &n->mesh;
	char host[64] = "?";
	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, host,
				 sizeof(host));
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, host,
				 sizeof(host));
	const char *why = NULL;
	if (mesh->nlinks >= n->cfg.max_connections) {
		why = "too many connections";
	} else if (mesh->npending >= n->cfg.max_pending) {
		why = "too many connections in their handshake";
	} else {
		unsigned same = 0;
		struct link *l;
		LIST_FOREACH(l, &mesh->links, entry)
		{
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
	struct link *l = link_new(mesh);
	if (!l) {
		evutil_closesocket(fd);
		return;
	}
	l->c = conn_accept(n->base, fd, sa, salen, &n->conn_params);
	if (!l->c) {
		/* conn_accept closed fd. */
		link_free(mesh, l);
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

/* Once at start and once a day: a warning from CERT_WARN_DAYS before the
 * node's certificate expires (peers refuse it from then on). */
static void warn_expiry(const struct node *n)
{
	int64_t left = n->cert_expires - (int64_t)time(NULL);
	if (!n->cert_expires || left > (int64_t)NODE_CERT_WARN_DAYS * 86400)
		return;
	if (left <= 0)
		log_error("this node's certificate has expired: members refuse it; renew it with "
			  "'shoal network renew' and restart the daemon");
	else
		log_warnx("this node's certificate expires in %lld days: renew it with 'shoal "
			  "network renew' and restart the daemon",
			  (long long)(left / 86400));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	double now = monotonic_seconds();
	members_tick(&n->members, now);
	remote_tick(&n->remote, now);
	serve_tick(n->serve, now);
	catalog_tick(n->catalog, now);
	repair_tick(n->repair, now);
	trust_tick(&n->trust, now);
	if (now - n->last_expiry_check >= EXPIRY_CHECK_SECONDS) {
		n->last_expiry_check = now;
		warn_expiry(n);
	}
	if (repair_stats(n->repair)->draining && now - n->last_drain_tick >= 1.0) {
		n->last_drain_tick = now;
		ctl_drain_tick(n->ctl);
	}
}

/* ---- drain ---- */

static int marker_path(const struct node *n, const char *name, char *out, size_t size)
{
	return (size_t)snprintf(out, size, "%s/%s", n->home, name) < size ? 0 : -ENAMETOOLONG;
}

static void on_leave_exit(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	log_info("drain: done; this node has left the network");
	event_base_loopbreak(arg);
}

/* Leave went out: note it in the home, and stop once the frames are sent. */
static void on_left(void *arg)
{
	struct node *n = arg;
	char path[PATH_MAX + 16];
	if (!marker_path(n, NODE_LEFT_FILE, path, sizeof(path)) &&
	    write_file_atomic(path, "left\n", 5, 0600))
		log_warnx("cannot write %s", path);
	if (!marker_path(n, NODE_DRAINING_FILE, path, sizeof(path)))
		unlink(path);
	ctl_drained(n->ctl);
	struct timeval tv = {1, 0};
	evtimer_add(n->leave_exit, &tv);
}

/* The drain is over: release what was kept for others, then say Leave. */
static void on_drained(void *arg)
{
	struct node *n = arg;
	trust_leave(&n->trust, on_left, n);
}

static void node_drain(void *arg)
{
	struct node *n = arg;
	char path[PATH_MAX + 16];
	if (repair_stats(n->repair)->draining)
		return;
	/* Noted first, so a restart carries on with it. */
	if (!marker_path(n, NODE_DRAINING_FILE, path, sizeof(path)) && access(path, F_OK) &&
	    write_file_atomic(path, "draining\n", 9, 0600))
		log_warnx("cannot write %s; a restart will not resume the drain", path);
	serve_drain(n->serve);
	repair_drain(n->repair, on_drained, n);
}

/* The modules start in this order: each gets only what started before it. */
static int start_modules(struct node *n)
{
	int err;
	/* Twice the CPUs: jobs spend much of their time waiting on the disk. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	n->pool = pool_new(ncpu > 0 ? 2 * (unsigned)ncpu : 2);
	n->lw = loopwork_new(n->base, n->pool);
	mesh_init(&n->mesh, n->id, &n->cfg);
	n->conn_params.ssl_ctx = n->ssl;
	n->conn_params.handshake_timeout = n->cfg.handshake_timeout;
	n->conn_params.ops = &peer_conn_ops;
	n->conn_params.arg = &n->peer;
	if ((err = start_listener(n)))
		return err;
	/* Before the writer runs: it owns the store's connection from then on. */
	if ((err = mesh_load(&n->mesh, n->store->index)))
		log_warnx("cannot load the known members: %s", shoal_strerror(err));
	if ((err = ops_start(&n->ops, n->store, n->base)))
		return err;
	members_init(&n->members, &n->mesh, &n->cfg, n->base, &n->conn_params, n->ops, &n->rv,
		     n->listen_addr);
	remote_init(&n->remote, &n->mesh, n->pool, &n->store->objects, n->lw);
	if ((err = catalog_open(&n->catalog, n->home, &n->mesh, &n->cfg, &n->rv, n->lw, n->pool)))
		return err;
	if ((err = serve_start(&n->serve, n->store, &n->mesh, n->ops, &n->remote, n->lw)))
		return err;
	if ((err = repair_start(&n->repair, n->id, n->store, &n->mesh, n->ops, &n->remote, n->base,
				n->lw)))
		return err;
	trust_init(&n->trust, &n->mesh, &n->members, n->catalog, &n->rv, n->ops, n->store);
	struct recovery_env renv = {
		.home = n->home,
		.base = n->base,
		.store = n->store,
		.ops = n->ops,
		.mesh = &n->mesh,
		.remote = &n->remote,
		.self = n->id,
		.delay = n->cfg.recovery_delay,
	};
	if ((err = recovery_start(&n->recovery, &renv)))
		return err;
	struct folder_env fenv = {
		.home = n->home,
		.base = n->base,
		.store = n->store,
		.ops = n->ops,
		.mesh = &n->mesh,
		.remote = &n->remote,
		.catalog = n->catalog,
		.self = n->id,
		.scan_interval = n->cfg.folder_scan_interval,
	};
	if ((err = folder_start(&n->folders, &fenv)))
		return err;
	n->peer = (struct peer){
		.mesh = &n->mesh,
		.members = &n->members,
		.serve = n->serve,
		.catalog = n->catalog,
		.remote = &n->remote,
		.trust = &n->trust,
		.recovery = n->recovery,
		.folders = n->folders,
	};
	struct ctl_env env = {
		.home = n->home,
		.base = n->base,
		.store = n->store,
		.ops = n->ops,
		.mesh = &n->mesh,
		.remote = &n->remote,
		.repair = n->repair,
		.catalog = n->catalog,
		.trust = &n->trust,
		.recovery = n->recovery,
		.folders = n->folders,
		.listen_addr = n->listen_addr,
		.drain = node_drain,
		.drain_arg = n,
		.nickname = n->nickname,
		.cert_expires = n->cert_expires,
		.retention = {n->cfg.prune_keep_last, n->cfg.prune_keep_daily,
			      n->cfg.prune_keep_weekly, n->cfg.prune_keep_monthly},
	};
	return ctl_start(&n->ctl, &env);
}

int node_open(struct node **out, const char *home, const struct config *cfg,
	      struct event_base *base)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->base = base;
	snprintf(n->home, sizeof(n->home), "%s", home);
	n->cfg = *cfg;
	char left[PATH_MAX + 16];
	snprintf(left, sizeof(left), "%s/%s", home, NODE_LEFT_FILE);
	if (access(left, F_OK) == 0) {
		log_error("this node left the network (shoal drain); its home %s can be removed",
			  home);
		free(n);
		return SHOAL_EEXIST;
	}
	int err = identity_load_id(home, n->id);
	if (err) {
		log_error("%s is not a shoal node home (run 'shoal init' first): %s", home,
			  shoal_strerror(err));
		goto fail;
	}
	node_id_format(n->id, n->id_text);
	err = store_open(&n->store, home, STORE_NOWAIT);
	if (err == -EWOULDBLOCK) {
		log_error("another shoal daemon or command is using %s", home);
		goto fail;
	}
	if (err) {
		log_error("cannot open the store in %s: %s", home, shoal_strerror(err));
		goto fail;
	}
	if ((err = tls_ctx_new(home, &n->ssl)))
		goto fail;
	if (identity_load_nickname_expiry(home, n->nickname, &n->cert_expires))
		n->cert_expires = 0;
	if ((err = revocations_open(&n->rv, home))) {
		log_error("cannot load the revocations in %s: %s", home, shoal_strerror(err));
		goto fail;
	}
	if ((err = start_modules(n)))
		goto fail;
	n->tick = event_new(base, -1, EV_PERSIST, on_tick, n);
	n->leave_exit = evtimer_new(base, on_leave_exit, base);
	if (!n->tick || !n->leave_exit) {
		err = -ENOMEM;
		goto fail;
	}
	struct timeval tv = {0, (suseconds_t)(TICK_SECONDS * 1e6)};
	event_add(n->tick, &tv);
	n->last_expiry_check = monotonic_seconds();
	warn_expiry(n);
	log_info("node %s listening on %s (%u known members, %u bootstrap addresses)", n->id_text,
		 n->listen_addr, n->mesh.nmembers, n->members.nbootstraps);
	members_tick(&n->members, monotonic_seconds());
	char draining[PATH_MAX + 16];
	if (!marker_path(n, NODE_DRAINING_FILE, draining, sizeof(draining)) &&
	    access(draining, F_OK) == 0) {
		log_info("drain: resuming (%s)", draining);
		node_drain(n);
	}
	*out = n;
	return 0;
fail:
	node_close(n);
	return err ? err : -EINVAL;
}

void node_close(struct node *n)
{
	if (!n)
		return;
	/* Threads waiting on other nodes are released, the CLI's operations
	 * cancelled; then the store threads finish what is queued. */
	remote_shutdown(&n->remote);
	ctl_cancel(n->ctl);
	folder_cancel(n->folders);
	if (n->ops)
		members_flush(&n->members);
	ops_stop(n->ops);
	/* Close every connection now: peers see the TCP close at once. */
	struct link *l;
	while ((l = LIST_FIRST(&n->mesh.links))) {
		conn_free(l->c);
		link_free(&n->mesh, l);
	}
	if (n->accept_resume)
		event_free(n->accept_resume);
	if (n->listener)
		evconnlistener_free(n->listener);
	if (n->tick)
		event_free(n->tick);
	if (n->leave_exit)
		event_free(n->leave_exit);
	/* Workers finish what they hold before the loop's bridge goes away;
	 * their completions start nothing new. */
	serve_close(n->serve);
	pool_free(n->pool);
	loopwork_free(n->lw);
	ctl_stop(n->ctl);
	serve_free(n->serve);
	catalog_close(n->catalog);
	repair_free(n->repair);
	recovery_free(n->recovery);
	folder_free(n->folders);
	revocations_close(&n->rv);
	store_close(n->store);
	SSL_CTX_free(n->ssl);
	free(n);
}

const char *node_listen_addr(const struct node *n)
{
	return n->listen_addr;
}

struct mesh *node_mesh(struct node *n)
{
	return &n->mesh;
}

struct ops *node_ops(struct node *n)
{
	return n->ops;
}

struct peer *node_peer(struct node *n)
{
	return &n->peer;
}

struct remote *node_remote(struct node *n)
{
	return &n->remote;
}

struct store *node_store(struct node *n)
{
	return n->store;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("%s received; stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopbreak(arg);
}

int node_run(const char *home, const struct config *cfg)
{
	signal(SIGPIPE, SIG_IGN);
	log_crash_reports();
	/* Whatever the daemon creates is its own; a restore sets the asking
	 * CLI's modes explicitly, so this umask never reaches the user's files. */
	umask(077);
	/* Chunk-sized buffers (4 MiB) come and go for every transfer; keep them
	 * in the heap for reuse instead of mapping and faulting them in anew. */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	if (evthread_use_pthreads())
		fatalx("libevent lacks thread support");
	struct event_base *base = event_base_new();
	if (!base)
		return 1;
	struct node *n = NULL;
	int status = 1;
	struct event *sig_term = evsignal_new(base, SIGTERM, on_signal, base);
	struct event *sig_int = evsignal_new(base, SIGINT, on_signal, base);
	if (sig_term && sig_int && node_open(&n, home, cfg, base) == 0) {
		event_add(sig_term, NULL);
		event_add(sig_int, NULL);
		event_base_dispatch(base);
		status = 0;
	}
	node_close(n);
	if (sig_term)
		event_free(sig_term);
	if (sig_int)
		event_free(sig_int);
	/* Freed bufferevents finish freeing in deferred callbacks; one last
	 * non-blocking pass runs them, or they would leak. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	if (status == 0)
		log_info("stopped");
	return status;
}
