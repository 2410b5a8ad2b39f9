/*
 * Member candidates heard through gossip, and the dial budget; see
 * candidates.h.
 */
#include "node/candidates.h"

#include <stdio.h>
#include <sys/socket.h>
#include <string.h>

void candidates_init(struct candidates *cs)
{
	memset(cs, 0, sizeof(*cs));
}

int candidates_addr_ok(const char *addr)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	return addr && addr_parse_numeric(addr, &ss, &len) == 0;
}

struct candidate *candidates_find(struct candidates *cs, const uint8_t id[NODE_ID_LEN])
{
	for (unsigned i = 0; i < cs->count; i++) {
		if (!memcmp(cs->list[i].id, id, NODE_ID_LEN))
			return &cs->list[i];
	}
	return NULL;
}

unsigned candidates_of(const struct candidates *cs, const uint8_t source[NODE_ID_LEN])
{
	unsigned n = 0;
	for (unsigned i = 0; i < cs->count; i++)
		n += !memcmp(cs->list[i].source, source, NODE_ID_LEN);
	return n;
}

/* Whether a is worth less than b: more failed dials, then heard of longer
 * ago. */
static int worth_less(const struct candidate *a, const struct candidate *b)
{
	if (a->failures != b->failures)
		return a->failures > b->failures;
	return a->heard < b->heard;
}

/* The entry to give up for a newcomer: the least worth among those not being
 * dialled (of source's own when source is given), or NULL. */
static struct candidate *victim(struct candidates *cs, const uint8_t *source)
{
	struct candidate *worst = NULL;
	for (unsigned i = 0; i < cs->count; i++) {
		struct candidate *c = &cs->list[i];
		if (c->dial || (source && memcmp(c->source, source, NODE_ID_LEN)))
			continue;
		if (!worst || worth_less(c, worst))
			worst = c;
	}
	return worst;
}

enum candidate_news candidates_heard(struct candidates *cs, const uint8_t id[NODE_ID_LEN],
				     const char *addr, int64_t last_seen,
				     const uint8_t source[NODE_ID_LEN], double now)
{
	if (!candidates_addr_ok(addr))
		return CANDIDATE_DROPPED;
	struct candidate *c = candidates_find(cs, id);
	if (c) {
		c->heard = now;
		/* It may have moved; trust the fresher report, as for members. */
		if (last_seen > c->last_seen) {
			c->last_seen = last_seen;
			snprintf(c->addr, sizeof(c->addr), "%s", addr);
		}
		return CANDIDATE_REFRESHED;
	}
	enum candidate_news news = CANDIDATE_REPLACED;
	if (candidates_of(cs, source) >= CANDIDATES_PER_SOURCE) {
		c = victim(cs, source);
	} else if (cs->count == CANDIDATES_MAX) {
		c = victim(cs, NULL);
	} else {
		c = &cs->list[cs->count++];
		news = CANDIDATE_ADDED;
	}
	if (!c)
		return CANDIDATE_DROPPED;
	memset(c, 0, sizeof(*c));
	memcpy(c->id, id, NODE_ID_LEN);
	memcpy(c->source, source, NODE_ID_LEN);
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->last_seen = last_seen;
	c->heard = now;
	c->next_dial = now;
	return news;
}

void candidates_remove(struct candidates *cs, const uint8_t id[NODE_ID_LEN])
{
	struct candidate *c = candidates_find(cs, id);
	if (!c)
		return;
	/* Order does not matter: the last entry takes its place. */
	*c = cs->list[--cs->count];
}

struct candidate *candidates_due(struct candidates *cs, double now)
{
	struct candidate *first = NULL;
	for (unsigned i = 0; i < cs->count; i++) {
		struct candidate *c = &cs->list[i];
		if (c->dial || c->next_dial > now)
			continue;
		if (!first || c->next_dial < first->next_dial)
			first = c;
	}
	return first;
}

struct candidate *candidates_dialled_by(struct candidates *cs, uint64_t serial)
{
	if (!serial)
		return NULL;
	for (unsigned i = 0; i < cs->count; i++) {
		if (cs->list[i].dial == serial)
			return &cs->list[i];
	}
	return NULL;
}

void candidate_failed(struct candidate *c, double now, double backoff_max, double jitter)
{
	c->dial = 0;
	c->failures++;
	c->backoff = c->backoff <= 0 ? CANDIDATES_BACKOFF_MIN : c->backoff * 2;
	if (c->backoff > backoff_max)
		c->backoff = backoff_max;
	c->next_dial = now + c->backoff * jitter;
}

/* ---- the dial budget ---- */

void dial_budget_init(struct dial_budget *b, double rate, double burst, double now)
{
	memset(b, 0, sizeof(*b));
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->at = now;
}

static void refill(struct dial_budget *b, double now)
{
	/* A clock read earlier by the caller never takes tokens back. */
	if (now <= b->at)
		return;
	b->tokens += (now - b->at) * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->at = now;
}

int dial_budget_ready(struct dial_budget *b, double now)
{
	refill(b, now);
	return b->tokens >= 1.0;
}

int dial_budget_take(struct dial_budget *b, double now)
{
	if (!dial_budget_ready(b, now))
		return 0;
	b->tokens -= 1.0;
	b->spent++;
	return 1;
}
