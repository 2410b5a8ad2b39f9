/*
 * libFuzzer harness for enrollment requests (src/proto/enroll.h): the text a
 * node hands to whoever holds the network file, who must not trust it. The
 * input goes to enroll_request_parse(); the properties checked:
 *   - a refusal is SHOAL_EPROTO or SHOAL_ETOOBIG with a one-line reason, and
 *     leaves the output untouched;
 *   - an accepted request keeps the struct's invariants (nickname "" or valid,
 *     listen address printable, time positive), passes enroll_request_check()
 *     again, came from at most ENROLL_TEXT_MAX bytes, and its text form
 *     (enroll_request_format()) parses back to the same request.
 * A broken property aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/identity.h"
#include "proto/enroll.h"
#include "util/buf.h"
#include "util/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_request: %s\n", what);
	abort();
}

static int same(const struct enroll_request *a, const struct enroll_request *b)
{
	return !memcmp(a->public_key, b->public_key, sizeof(a->public_key)) &&
	       !strcmp(a->nickname, b->nickname) && !strcmp(a->listen, b->listen) &&
	       a->time == b->time && !memcmp(a->sig, b->sig, sizeof(a->sig));
}

static void check_invariants(const struct enroll_request *r)
{
	size_t nick_len = strnlen(r->nickname, sizeof(r->nickname));
	size_t listen_len = strnlen(r->listen, sizeof(r->listen));
	if (nick_len == sizeof(r->nickname) || listen_len == sizeof(r->listen))
		fail("an accepted request has an unterminated string");
	if (nick_len && nickname_check(r->nickname))
		fail("an accepted request has an invalid nickname");
	if (listen_len == 0)
		fail("an accepted request has no listen address");
	for (size_t i = 0; i < listen_len; i++) {
		if (r->listen[i] <= ' ' || r->listen[i] > '~')
			fail("an accepted request's listen address is not printable");
	}
	if (r->time <= 0)
		fail("an accepted request has no time");
	if (enroll_request_check(r, NULL) != 0)
		fail("an accepted request fails enroll_request_check");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct enroll_request r, untouched, again;
	struct buf text;
	const char *why = NULL;

	memset(&r, 0xa5, sizeof(r));
	memcpy(&untouched, &r, sizeof(r));
	int err = enroll_request_parse(data, size, &r, &why);
	if (err) {
		if (err != SHOAL_EPROTO && err != SHOAL_ETOOBIG)
			fail("a refusal that is neither EPROTO nor ETOOBIG");
		if (!why || !*why || strchr(why, '\n'))
			fail("a refusal without a one-line reason");
		if (memcmp(&r, &untouched, sizeof(r)))
			fail("enroll_request_parse wrote its output on error");
		return 0;
	}
	if (size > ENROLL_TEXT_MAX)
		fail("accepted a text past ENROLL_TEXT_MAX");
	check_invariants(&r);
	buf_init(&text);
	if (enroll_request_format(&r, &text) != 0)
		fail("enroll_request_format failed on an accepted request");
	if (text.len > ENROLL_TEXT_MAX)
		fail("enroll_request_format wrote a text the parser refuses as too big");
	if (enroll_request_parse(text.data, text.len, &again, &why) != 0)
		fail("the text form of an accepted request does not parse");
	if (!same(&r, &again))
		fail("a request changed across format and parse");
	buf_release(&text);
	return 0;
}
