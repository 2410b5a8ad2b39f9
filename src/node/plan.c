/*
 * Repair's decisions; see plan.h.
 */
#include "node/plan.h"

#include <string.h>

#include "node/placement.h"

unsigned plan_copies(const struct plan_view *v)
{
	unsigned have = 1; /* this node */
	for (size_t p = 0; p < v->npeers; p++)
		have += v->holds[p] != 0;
	return have;
}

unsigned plan_want(const struct plan_view *v, unsigned max, int owned)
{
	int owner_up = owned;
	for (size_t p = 0; !owner_up && p < v->npeers; p++)
		owner_up = v->keeps[p] || (v->owns && v->owns[p]);
	if (!owner_up)
		return 0;
	return v->want < max ? v->want : max;
}

size_t plan_lead(const struct plan_view *v)
{
	size_t lead = PLAN_SELF;
	uint64_t best = placement_score(v->self, v->chunk);
	const uint8_t *best_id = v->self;
	for (size_t p = 0; p < v->npeers; p++) {
		if (!v->holds[p])
			continue;
		uint64_t sc = placement_score(v->peers[p], v->chunk);
		if (sc > best || (sc == best && memcmp(v->peers[p], best_id, NODE_ID_LEN) < 0)) {
			best = sc;
			best_id = v->peers[p];
			lead = p;
		}
	}
	return lead;
}

unsigned plan_targets(const struct plan_view *v, size_t *order, size_t *targets)
{
	unsigned have = plan_copies(v);
	if (have >= v->want || plan_lead(v) != PLAN_SELF)
		return 0;
	placement_rank(v->peers, v->npeers, v->chunk, order);
	unsigned nt = 0;
	for (size_t k = 0; k < v->npeers && have + nt < v->want; k++) {
		if (!v->holds[order[k]] && !(v->pins && v->pins[order[k]]))
			targets[nt++] = order[k];
	}
	return nt;
}

enum plan_surplus plan_surplus(const struct plan_view *v, int self_needs, size_t *order, size_t *at)
{
	if (plan_copies(v) <= v->want)
		return PLAN_KEEP;
	int back = 0;
	for (size_t p = 0; p < v->npeers; p++)
		back |= v->returned[p] && v->holds[p];
	if (!back)
		return PLAN_KEEP;
	placement_rank(v->peers, v->npeers, v->chunk, order);
	size_t last = PLAN_SELF;
	for (size_t k = v->npeers; k-- > 0 && last == PLAN_SELF;) {
		if (v->holds[order[k]] && !v->keeps[order[k]])
			last = order[k];
	}
	if (!self_needs && (last == PLAN_SELF || placement_score(v->self, v->chunk) <
							 placement_score(v->peers[last], v->chunk)))
		return PLAN_DROP_SELF;
	if (last == PLAN_SELF)
		return PLAN_KEEP;
	*at = last;
	return PLAN_RELEASE_AT;
}

unsigned plan_handover(const struct plan_view *v, unsigned *missing, size_t *order, size_t *targets)
{
	unsigned others = plan_copies(v) - 1;
	unsigned want = v->want ? v->want : 1;
	if (want > v->npeers)
		want = (unsigned)v->npeers;
	*missing = others < want ? want - others : 0;
	if (!*missing)
		return 0;
	placement_rank(v->peers, v->npeers, v->chunk, order);
	unsigned nt = 0;
	for (size_t k = 0; k < v->npeers; k++) {
		if (!v->holds[order[k]] && !(v->pins && v->pins[order[k]]))
			targets[nt++] = order[k];
	}
	return nt;
}
