/*
 * Network benchmark on 127.0.0.1, every figure beside a baseline from the same run: a
 * temporary network with two node homes (network_create, identity_init), then a forked
 * server process (the second node) and this process as the client (the first node). Steps:
 * raw TCP throughput (1 GiB in 4 MiB write() calls, timed by the receiver from the end of
 * its first read to the last byte); the framed TLS channel of net/conn (256 Chunk frames of
 * OBJECT_SIZE_MAX payload bytes sent as fast as backpressure allows, timed by the receiver
 * from the first frame to the last, the first frame's bytes left out as with TCP's first
 * read); TLS connection set-up rate (N handshakes one after another, then 8 at a time, each
 * connection closed once on_ready fires on the client); and Ping/Pong round trips over one
 * connection, beside a raw TCP one-byte ping-pong. Throughputs are the best of RUNS runs
 * (environment variable, default 3), in MB/s (10^6 bytes per second). The receiver reports
 * its figures back over the connection it measured, after the transfer. Steps named on the
 * command line run alone (for profiling one of them).
 *   bench_net [raw] [tls] [handshake] [ping]
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/identity.h"
#include "net/conn.h"
#include "net/tls.h"
#include "net/wire.h"
#include "proto/manifest.h"

#define RAW_TOTAL   ((size_t)1024 * 1024 * 1024)
#define RAW_WRITE   ((size_t)4 * 1024 * 1024)
#define TLS_FRAMES  256
#define HANDSHAKES  200
#define PARALLEL    8
#define PINGS	    2000
#define PING_WARMUP 100
#define HS_TIMEOUT  10.0
#define MAX_RUNS    20

static char g_tmp[256], g_net[300], g_home_a[300], g_home_b[300];

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "bench_net: %s\n", what);
	exit(1);
}

/* A listening socket on 127.0.0.1 with a kernel-chosen port, written to addr. */
static int listen_local(char *addr, size_t size)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) || listen(fd, 1024) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len))
		die("cannot listen on 127.0.0.1");
	snprintf(addr, size, "127.0.0.1:%d", ntohs(sin.sin_port));
	return fd;
}

static int connect_local(const char *addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_port = htons((uint16_t)atoi(strchr(addr, ':') + 1));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)))
		die("cannot connect to 127.0.0.1");
	return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write failed");
		b += w;
		n -= (size_t)w;
	}
}

static void read_all(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t r = read(fd, b, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("read failed");
		b += r;
		n -= (size_t)r;
	}
}

/* Runs server(lfd, arg) in a child process, which exits when it returns. */
static pid_t spawn(void (*server)(int lfd, void *arg), int lfd, void *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		server(lfd, arg);
		_exit(0);
	}
	close(lfd);
	return pid;
}

static void reap(pid_t pid, int kill_it)
{
	int status;

	if (kill_it)
		kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid ||
	    (!kill_it && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)))
		die("server process failed");
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;

	for (size_t i = 0; i + 8 <= n; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(p + i, &s, 8);
	}
}

static SSL_CTX *ctx_for(const char *home)
{
	SSL_CTX *ctx;

	if (tls_ctx_new(home, &ctx))
		die("tls_ctx_new failed");
	return ctx;
}

/* ---- raw TCP ---------------------------------------------------------------------- */

/* Receives RAW_TOTAL bytes, then answers with the bytes and nanoseconds it timed. */
static void raw_receiver(int lfd, void *arg)
{
	(void)arg;
	uint8_t *buf = malloc(RAW_WRITE);
	int fd = accept(lfd, NULL, NULL);
	size_t got = 0, first = 0;
	double t0 = 0;

	if (!buf || fd < 0)
		die("raw receiver: set-up failed");
	while (got < RAW_TOTAL) {
		ssize_t r = read(fd, buf, RAW_WRITE);
		if (r <= 0)
			die("raw receiver: read failed");
		if (got == 0) {
			t0 = now();
			first = (size_t)r;
		}
		got += (size_t)r;
	}
	uint64_t result[2] = {got - first, (uint64_t)((now() - t0) * 1e9)};
	write_all(fd, result, sizeof(result));
	close(fd);
	free(buf);
}

static double raw_run(const uint8_t *data)
{
	char addr[64];
	int lfd = listen_local(addr, sizeof(addr));
	pid_t pid = spawn(raw_receiver, lfd, NULL);
	int fd = connect_local(addr);
	uint64_t result[2];

	for (size_t sent = 0; sent < RAW_TOTAL; sent += RAW_WRITE)
		write_all(fd, data, RAW_WRITE);
	read_all(fd, result, sizeof(result));
	close(fd);
	reap(pid, 0);
	return (double)result[0] / ((double)result[1] / 1e9) / 1e6;
}

/* A one-byte ping-pong over plain TCP (TCP_NODELAY both ways), for the round-trip baseline. */
static void raw_echo(int lfd, void *arg)
{
	(void)arg;
	int fd = accept(lfd, NULL, NULL);
	int one = 1;
	uint8_t b;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (read(fd, &b, 1) == 1)
		write_all(fd, &b, 1);
	close(fd);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void raw_ping(double *median, double *p99)
{
	static double rtt[PINGS];
	char addr[64];
	int lfd = listen_local(addr, sizeof(addr));
	pid_t pid = spawn(raw_echo, lfd, NULL);
	int fd = connect_local(addr);
	int one = 1;
	uint8_t b = 0;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (int i = -PING_WARMUP; i < PINGS; i++) {
		double t0 = now();
		write_all(fd, &b, 1);
		read_all(fd, &b, 1);
		if (i >= 0)
			rtt[i] = (now() - t0) * 1e6;
	}
	close(fd);
	reap(pid, 0);
	qsort(rtt, PINGS, sizeof(rtt[0]), cmp_double);
	*median = rtt[PINGS / 2];
	*p99 = rtt[PINGS * 99 / 100];
}

/* ---- net/conn servers ------------------------------------------------------------- */

/* What a server child does with frames: count Chunk payloads, or answer Pings. */
enum server_kind { SERVE_SINK, SERVE_PONG, SERVE_ACCEPT };

struct server {
	enum server_kind kind;
	struct event_base *base;
	struct conn_params params;
	size_t frames, bytes;
	double t_first;
};

static void srv_ready(struct conn *c, void *arg)
{
	(void)c;
	(void)arg;
}

static void srv_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t n, void *arg)
{
	struct server *s = arg;

	free(payload);
	if (s->kind == SERVE_PONG && env->msg_case == SHOAL__ENVELOPE__MSG_PING) {
		Shoal__Envelope reply = SHOAL__ENVELOPE__INIT;
		Shoal__Pong pong = SHOAL__PONG__INIT;
		pong.nonce = env->ping->nonce;
		reply.msg_case = SHOAL__ENVELOPE__MSG_PONG;
		reply.pong = &pong;
		conn_send(c, &reply, NULL, 0);
	} else if (s->kind == SERVE_SINK && env->msg_case == SHOAL__ENVELOPE__MSG_CHUNK) {
		if (s->frames++ == 0)
			s->t_first = now();
		else
			s->bytes += n;
		if (s->frames == TLS_FRAMES) {
			/* The figures go back in a Pong: bytes as request_id, ns as nonce. */
			Shoal__Envelope reply = SHOAL__ENVELOPE__INIT;
			Shoal__Pong pong = SHOAL__PONG__INIT;
			pong.nonce = (uint64_t)((now() - s->t_first) * 1e9);
			reply.request_id = s->bytes;
			reply.msg_case = SHOAL__ENVELOPE__MSG_PONG;
			reply.pong = &pong;
			conn_send(c, &reply, NULL, 0);
		}
	}
	wire_free(env, NULL);
}

static void srv_close(struct conn *c, int err, void *arg)
{
	(void)c;
	(void)err; /* a client's close arrives as -ECONNRESET */
	struct server *s = arg;

	/* The sink serves one connection; the others run until killed. */
	if (s->kind == SERVE_SINK)
		event_base_loopbreak(s->base);
}

static const struct conn_ops srv_ops = {
	.on_ready = srv_ready, .on_frame = srv_frame, .on_close = srv_close};

static void srv_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		       void *arg)
{
	(void)l;
	struct server *s = arg;

	if (!conn_accept(s->base, fd, sa, salen, &s->params))
		die("conn_accept failed");
}

static void conn_server(int lfd, void *arg)
{
	struct server s = {.kind = *(enum server_kind *)arg};
	struct evconnlistener *l;

	signal(SIGTERM, SIG_DFL);
	s.base = event_base_new();
	s.params = (struct conn_params){ctx_for(g_home_b), HS_TIMEOUT, &srv_ops, &s};
	evutil_make_socket_nonblocking(lfd);
	l = evconnlistener_new(s.base, srv_accept, &s, LEV_OPT_CLOSE_ON_FREE, -1, lfd);
	if (!s.base || !l)
		die("server: libevent set-up failed");
	event_base_dispatch(s.base);
	evconnlistener_free(l);
	event_base_free(s.base);
	SSL_CTX_free(s.params.ssl_ctx);
}

/* ---- net/conn clients ------------------------------------------------------------- */

struct client {
	struct event_base *base;
	struct conn_params params;
	const char *addr;
	/* bulk */
	const uint8_t *data;
	int sent;
	uint64_t bytes, ns;
	/* handshakes */
	int started, open, done;
	double t0, t1;
	/* pings */
	int pings;
	double t_ping;
	double rtt[PINGS];
	int failed;
};

static void bulk_pump(struct conn *c, struct client *cl)
{
	static uint8_t id[WIRE_ID_LEN];

	while (cl->sent < TLS_FRAMES && !conn_congested(c)) {
		Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
		Shoal__Chunk chunk = SHOAL__CHUNK__INIT;
		chunk.id.data = id;
		chunk.id.len = sizeof(id);
		env.msg_case = SHOAL__ENVELOPE__MSG_CHUNK;
		env.chunk = &chunk;
		/* Like the daemon serving a chunk read from disk: a buffer of its
		 * own per frame, handed over without a copy. */
		void *payload = malloc(OBJECT_SIZE_MAX);
		if (!payload)
			die("out of memory");
		if (conn_send_owned(c, &env, payload, OBJECT_SIZE_MAX))
			die("conn_send refused a Chunk");
		cl->sent++;
	}
}

static void bulk_ready(struct conn *c, void *arg)
{
	bulk_pump(c, arg);
}

static void bulk_drain(struct conn *c, void *arg)
{
	bulk_pump(c, arg);
}

static void bulk_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t n, void *arg)
{
	(void)n;
	struct client *cl = arg;

	free(payload);
	if (env->msg_case == SHOAL__ENVELOPE__MSG_PONG) {
		cl->bytes = env->request_id;
		cl->ns = env->pong->nonce;
		conn_close(c, 0, SHOAL__ERROR__CODE__UNKNOWN, NULL);
	}
	wire_free(env, NULL);
}

static void cli_close(struct conn *c, int err, void *arg)
{
	(void)c;
	struct client *cl = arg;

	if (err) {
		fprintf(stderr, "bench_net: client connection closed: %d\n", err);
		cl->failed = 1;
	}
	event_base_loopbreak(cl->base);
}

static const struct conn_ops bulk_ops = {.on_ready = bulk_ready,
					 .on_frame = bulk_frame,
					 .on_drain = bulk_drain,
					 .on_close = cli_close};

static void client_init(struct client *cl, SSL_CTX *ctx, const struct conn_ops *ops,
			const char *addr)
{
	memset(cl, 0, sizeof(*cl));
	cl->base = event_base_new();
	if (!cl->base)
		die("event_base_new failed");
	cl->params = (struct conn_params){ctx, HS_TIMEOUT, ops, cl};
	cl->addr = addr;
}

static double tls_run(SSL_CTX *ctx, const uint8_t *data)
{
	char addr[64];
	enum server_kind kind = SERVE_SINK;
	int lfd = listen_local(addr, sizeof(addr));
	pid_t pid = spawn(conn_server, lfd, &kind);
	struct client *cl = malloc(sizeof(*cl));

	if (!cl)
		die("out of memory");
	client_init(cl, ctx, &bulk_ops, addr);
	cl->data = data;
	if (!conn_connect(cl->base, addr, &cl->params))
		die("conn_connect failed");
	event_base_dispatch(cl->base);
	if (cl->failed || cl->ns == 0)
		die("TLS transfer failed");
	event_base_free(cl->base);
	reap(pid, 0);
	double mbps = (double)cl->bytes / ((double)cl->ns / 1e9) / 1e6;
	free(cl);
	return mbps;
}

/* Handshakes: each connection is closed as soon as it is ready; its close starts the next. */
static void hs_start(struct client *cl)
{
	cl->started++;
	cl->open++;
	if (!conn_connect(cl->base, cl->addr, &cl->params))
		die("conn_connect failed");
}

static void hs_ready(struct conn *c, void *arg)
{
	struct client *cl = arg;

	if (++cl->done == HANDSHAKES)
		cl->t1 = now();
	/* Not conn_free(): conn still uses c after on_ready returns. */
	conn_close(c, 0, SHOAL__ERROR__CODE__UNKNOWN, NULL);
}

static void hs_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t n, void *arg)
{
	(void)c;
	(void)n;
	(void)arg;
	free(payload);
	wire_free(env, NULL);
}

static void hs_close(struct conn *c, int err, void *arg)
{
	(void)c;
	struct client *cl = arg;

	cl->open--;
	if (err) {
		fprintf(stderr, "bench_net: handshake failed: %d\n", err);
		cl->failed = 1;
		event_base_loopbreak(cl->base);
	} else if (cl->started < HANDSHAKES) {
		hs_start(cl);
	} else if (cl->open == 0) {
		event_base_loopbreak(cl->base);
	}
}

static const struct conn_ops hs_ops = {
	.on_ready = hs_ready, .on_frame = hs_frame, .on_close = hs_close};

static double handshakes(SSL_CTX *ctx, int parallel)
{
	char addr[64];
	enum server_kind kind = SERVE_ACCEPT;
	int lfd = listen_local(addr, sizeof(addr));
	pid_t pid = spawn(conn_server, lfd, &kind);
	struct client *cl = malloc(sizeof(*cl));

	if (!cl)
		die("out of memory");
	client_init(cl, ctx, &hs_ops, addr);
	cl->t0 = now();
	for (int i = 0; i < parallel; i++)
		hs_start(cl);
	/* Runs until every handshake is done and the last connection has closed. */
	event_base_dispatch(cl->base);
	if (cl->failed)
		die("handshakes failed");
	double rate = HANDSHAKES / (cl->t1 - cl->t0);
	event_base_free(cl->base);
	reap(pid, 1);
	free(cl);
	return rate;
}

/* Pings: one outstanding at a time, the next sent from the Pong's callback. */
static void ping_send(struct conn *c, struct client *cl)
{
	Shoal__Envelope env = SHOAL__ENVELOPE__INIT;
	Shoal__Ping ping = SHOAL__PING__INIT;

	ping.nonce = (uint64_t)cl->pings;
	env.msg_case = SHOAL__ENVELOPE__MSG_PING;
	env.ping = &ping;
	cl->t_ping = now();
	if (conn_send(c, &env, NULL, 0))
		die("conn_send refused a Ping");
}

static void ping_ready(struct conn *c, void *arg)
{
	ping_send(c, arg);
}

static void ping_frame(struct conn *c, Shoal__Envelope *env, uint8_t *payload, size_t n, void *arg)
{
	(void)n;
	struct client *cl = arg;

	free(payload);
	if (env->msg_case == SHOAL__ENVELOPE__MSG_PONG && env->pong->nonce == (uint64_t)cl->pings) {
		int i = cl->pings++ - PING_WARMUP;
		if (i >= 0)
			cl->rtt[i] = (now() - cl->t_ping) * 1e6;
		if (i + 1 < PINGS)
			ping_send(c, cl);
		else
			conn_close(c, 0, SHOAL__ERROR__CODE__UNKNOWN, NULL);
	}
	wire_free(env, NULL);
}

static const struct conn_ops ping_ops = {
	.on_ready = ping_ready, .on_frame = ping_frame, .on_close = cli_close};

static void tls_ping(SSL_CTX *ctx, double *median, double *p99)
{
	char addr[64];
	enum server_kind kind = SERVE_PONG;
	int lfd = listen_local(addr, sizeof(addr));
	pid_t pid = spawn(conn_server, lfd, &kind);
	struct client *cl = malloc(sizeof(*cl));

	if (!cl)
		die("out of memory");
	client_init(cl, ctx, &ping_ops, addr);
	if (!conn_connect(cl->base, addr, &cl->params))
		die("conn_connect failed");
	event_base_dispatch(cl->base);
	if (cl->failed || cl->pings != PINGS + PING_WARMUP)
		die("pings failed");
	event_base_free(cl->base);
	reap(pid, 1);
	qsort(cl->rtt, PINGS, sizeof(cl->rtt[0]), cmp_double);
	*median = cl->rtt[PINGS / 2];
	*p99 = cl->rtt[PINGS * 99 / 100];
	free(cl);
}

/* ---- set-up and report ------------------------------------------------------------ */

static void make_identities(void)
{
	const char *dir = getenv("BENCH_DIR");
	uint8_t id[NODE_ID_LEN];

	snprintf(g_tmp, sizeof(g_tmp), "%s/shoal-bench-net.XXXXXX", dir ? dir : "/tmp");
	if (!mkdtemp(g_tmp))
		die("mkdtemp failed");
	snprintf(g_net, sizeof(g_net), "%s/net.pem", g_tmp);
	snprintf(g_home_a, sizeof(g_home_a), "%s/a", g_tmp);
	snprintf(g_home_b, sizeof(g_home_b), "%s/b", g_tmp);
	if (network_create(g_net) || mkdir(g_home_a, 0700) || mkdir(g_home_b, 0700) ||
	    identity_init(g_home_a, g_net, id) || identity_init(g_home_b, g_net, id))
		die("cannot create the network and node identities");
}

static void remove_identities(void)
{
	const char *files[] = {"a/node.key", "a/node.crt", "a/ca.crt", "b/node.key", "b/node.crt",
			       "b/ca.crt",   "net.pem",	   "a",	       "b"};
	char path[400];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", g_tmp, files[i]);
		remove(path);
	}
	rmdir(g_tmp);
}

/* Whether step name was asked for on the command line (no arguments: every step). */
static int wanted(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *env_runs = getenv("RUNS");
	int runs = env_runs ? atoi(env_runs) : 3;
	/* As the daemon does: chunk-sized buffers are reused from the heap. */
	mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
	double raw_best = 0, tls_best = 0;
	uint8_t *data = malloc(OBJECT_SIZE_MAX);

	if (runs < 1 || runs > MAX_RUNS)
		runs = 3;
	if (!data)
		die("out of memory");
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "raw") && strcmp(argv[i], "tls") &&
		    strcmp(argv[i], "handshake") && strcmp(argv[i], "ping")) {
			fprintf(stderr, "usage: bench_net [raw] [tls] [handshake] [ping]\n");
			return 2;
		}
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads())
		die("evthread_use_pthreads failed");
	fill_random(data, OBJECT_SIZE_MAX, 0x9e3779b97f4a7c15);
	make_identities();
	SSL_CTX *ctx = ctx_for(g_home_a);

	printf("127.0.0.1, throughput best of %d, MB/s = 10^6 bytes/s\n", runs);
	printf("  %-44s %14s %8s\n", "step", "result", "ratio");
	fflush(stdout);
	for (int i = 0; i < runs; i++) {
		double raw = wanted(argc, argv, "raw") ? raw_run(data) : 0;
		double tls = wanted(argc, argv, "tls") ? tls_run(ctx, data) : 0;
		raw_best = raw > raw_best ? raw : raw_best;
		tls_best = tls > tls_best ? tls : tls_best;
	}
	if (raw_best > 0)
		printf("  %-44s %9.0f MB/s %8s\n", "raw TCP, 1 GiB in 4 MiB write()s", raw_best,
		       "1.00");
	if (tls_best > 0 && raw_best > 0)
		printf("  %-44s %9.0f MB/s %8.2f\n", "framed TLS, 256 Chunk frames of 4 MiB + 16",
		       tls_best, tls_best / raw_best);
	else if (tls_best > 0)
		printf("  %-44s %9.0f MB/s %8s\n", "framed TLS, 256 Chunk frames of 4 MiB + 16",
		       tls_best, "-");
	if (wanted(argc, argv, "handshake")) {
		printf("  %-44s %11.0f /s %8s\n", "TLS handshakes, sequential (200)",
		       handshakes(ctx, 1), "-");
		printf("  %-44s %11.0f /s %8s\n", "TLS handshakes, 8 in parallel (200)",
		       handshakes(ctx, PARALLEL), "-");
	}
	if (wanted(argc, argv, "ping")) {
		double raw_med, raw_p99, tls_med, tls_p99;
		raw_ping(&raw_med, &raw_p99);
		tls_ping(ctx, &tls_med, &tls_p99);
		printf("  %-44s %6.1f / %4.1f us %5s\n", "raw TCP 1-byte ping-pong, median / p99",
		       raw_med, raw_p99, "1.00");
		printf("  %-44s %6.1f / %4.1f us %5.2f\n", "TLS Ping/Pong round trip, median / p99",
		       tls_med, tls_p99, raw_med / tls_med);
	}
	printf("ratio = TLS / raw TCP throughput, or raw / TLS median round trip; "
	       "aim: framed TLS >= 0.5\n");
	SSL_CTX_free(ctx);
	remove_identities();
	free(data);
	return 0;
}
