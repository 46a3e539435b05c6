/*
 * item_meta.c -- small read-only accessors added for the protocol layer
 * (metadump); see item.h.
 */
#include "storage.h"

bool
item_fetched(const struct item *it)
{
    return (atomic_load_explicit(&((struct item *)it)->iflags, memory_order_relaxed) & IF_FETCHED) != 0;
}
