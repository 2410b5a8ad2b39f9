/*
 * A running node: the daemon's state, owned by its event-loop thread. It
 * listens for peers (TLS, see net/conn.h), dials the members it knows and its
 * bootstrap addresses, keeps one connection per member alive with pings,
 * gossips membership, serves chunks, and answers the CLI on home/ctl.sock.
 * The files of this layer share this header: node.c (start, stop, accept,
 * timers), members.c (membership and the peer protocol), ctl.c (the control
 * socket and the operations it runs).
 */
#ifndef SHOAL_NODE_NODE_H
#define SHOAL_NODE_NODE_H

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/loopwork.h"
#include "node/config.h"
#include "store/store.h"

#define NODE_MEMBERS_MAX   1024
#define NODE_BOOTSTRAP_MAX 32

enum member_state { MEMBER_DOWN = 0, MEMBER_UP = 1 };

struct link;

struct member {
	uint8_t id[NODE_ID_LEN];
	char addr[ADDR_MAX];  /* where it listens, "" if unknown */
	int64_t last_seen;    /* Unix seconds it was last up, 0 if never */
	struct link *link;    /* the established connection, or NULL */
	struct link *dialing; /* an outbound attempt in progress, or NULL */
	enum member_state state;
	double last_heard; /* monotonic seconds of the last frame from it */
	double down_since; /* monotonic seconds it went down (or the node started) */
	int seen_up;	   /* up at some time since this node started */
	int returned;	   /* came back after being lost (down past the grace period) */
	double next_dial;
	double backoff;
	uint64_t ping_nonce;
	double ping_sent; /* 0 when no ping is outstanding */
	double last_ping; /* when the last ping went out */
	uint32_t rtt_us;
	int dirty; /* changed since last persisted */
};

struct bootstrap {
	char addr[ADDR_MAX];
	struct link *dialing;
	uint8_t id[NODE_ID_LEN]; /* learnt once connected */
	int known;		 /* id is set */
	int self;		 /* it turned out to be this node */
	double next_dial;
	double backoff;
};

/* One connection and what the protocol knows of it. */
struct link {
	struct node *n;
	struct conn *c;
	uint64_t serial; /* stable handle for work finishing after a close */
	struct link *prev, *next;
	struct member *member; /* set once Hello both ways made it a member's link */
	struct bootstrap *bootstrap;
	uint8_t expect[NODE_ID_LEN]; /* the id a dial was meant to reach */
	int has_expect;
	int authenticated;
	double ready_at; /* when the TLS handshake finished */
	int hello_received;
	unsigned serving;  /* GetChunk jobs in flight */
	unsigned storing;  /* PutChunk/Unpin work in flight for this link */
	unsigned fetching; /* Fetch requests in progress for this link */
};

struct ctl;
struct catalog;

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
	struct store *store;
	struct index *ix; /* the loop thread's own (read) connection */
	struct pool *pool;
	struct loopwork *lw;
	struct ctl *ctl;
	struct catalog *catalog;
	struct event *tick;
	struct event *sig_term, *sig_int;
	struct link *links;
	unsigned nlinks, npending;
	uint64_t next_serial;
	struct member members[NODE_MEMBERS_MAX];
	unsigned nmembers;
	struct bootstrap bootstraps[NODE_BOOTSTRAP_MAX];
	unsigned nbootstraps;
	double last_gossip;
	double last_save;
	int saving;
	double refused_log_at; /* rate limit for "refused connection" lines */
	unsigned refused_quiet;
	struct conn_params conn_params;
	/* requests this node made to others (remote.c) */
	struct rcall *calls;
	uint64_t next_request_id;
	atomic_int remote_closed;
	/* serving other nodes (serve.c) */
	struct serve *serve;
	/* keeping copies (repair.c) */
	struct repair *repair;
};

/* Runs the node of home until SIGTERM or SIGINT. cfg holds the effective
 * settings (config file and flags). Returns a process exit status. */
int node_run(const char *home, const struct config *cfg);

/* node.c */
double node_now(void);
struct link *node_link_new(struct node *n);
struct link *node_link_find(struct node *n, uint64_t serial);
/* Dials addr; expect (may be NULL) is the id it must turn out to have. */
struct link *node_dial(struct node *n, const char *addr, const uint8_t *expect);

/* members.c */
extern const struct conn_ops node_peer_ops;
int members_load(struct node *n);
void members_tick(struct node *n, double now);
struct member *member_find(struct node *n, const uint8_t id[NODE_ID_LEN]);
void members_counts(const struct node *n, unsigned *up, unsigned *down);
/* Answers request_id on l with an Error frame. */
void link_send_error(struct link *l, uint64_t request_id, Shoal__Error__Code code,
		     const char *text);
/* Copies the ids of the members that are up (at most max); returns how many.
 * returned (may be NULL) gets, for each, whether it came back after being lost. */
size_t members_up_ids(const struct node *n, uint8_t (*out)[NODE_ID_LEN], size_t max);
size_t members_up_ids_returned(const struct node *n, uint8_t (*out)[NODE_ID_LEN], uint8_t *returned,
			       size_t max);
/* Counts the members down longer than cfg.grace_period (lost: their copies
 * are remade elsewhere) and those down for less (*waiting, may be NULL). */
unsigned members_lost(const struct node *n, double now, unsigned *waiting);

/* ctl.c */
int ctl_start(struct node *n);
void ctl_stop(struct node *n);
/* The bridge to the thread running store operations one at a time. */
struct loopwork *ctl_ops_lw(struct node *n);

#endif
