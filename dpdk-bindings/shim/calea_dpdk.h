/* Input header for bindgen: the DPDK 22.11 API calea-probe uses, plus what
 * bindgen cannot see by itself (function-like macros, thread-local rte_errno).
 * Static-inline functions are wrapped by bindgen (wrap_static_fns). */
#ifndef CALEA_DPDK_H
#define CALEA_DPDK_H

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_prefetch.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_ethdev.h>

/* RSS hash types and offload flags are macros built from RTE_BIT64: re-export them. */
static const uint64_t CALEA_ETH_RSS_IP = RTE_ETH_RSS_IP;
static const uint64_t CALEA_ETH_RSS_TCP = RTE_ETH_RSS_TCP;
static const uint64_t CALEA_ETH_RSS_UDP = RTE_ETH_RSS_UDP;
static const uint64_t CALEA_ETH_RX_OFFLOAD_TIMESTAMP = RTE_ETH_RX_OFFLOAD_TIMESTAMP;
static const uint64_t CALEA_ETH_RX_OFFLOAD_RSS_HASH = RTE_ETH_RX_OFFLOAD_RSS_HASH;
static const uint64_t CALEA_ETH_RX_OFFLOAD_SCATTER = RTE_ETH_RX_OFFLOAD_SCATTER;
static const uint16_t CALEA_MBUF_DEFAULT_BUF_SIZE = RTE_MBUF_DEFAULT_BUF_SIZE;
static const uint16_t CALEA_PKTMBUF_HEADROOM = RTE_PKTMBUF_HEADROOM;

/* rte_errno is a per-lcore thread-local: read it through a function. */
static inline int calea_rte_errno(void) { return rte_errno; }

/* Frees a burst of received mbufs through the inline mempool path, inlined here
 * unlike rte_pktmbuf_free_bulk (a call into librte_mbuf.so).
 *
 * A burst from an RX queue is nearly always single-segment direct mbufs of one
 * pool that nothing else references: for those, rte_pktmbuf_prefree_seg would
 * change nothing, so one pass checks that every mbuf is in that state and the
 * whole array goes back with one rte_mempool_put_bulk. Any other burst takes
 * the general path: single-segment direct mbufs batched per pool, anything else
 * (chains, shared, indirect or external mbufs) through rte_pktmbuf_free. */
static inline void calea_pktmbuf_free_burst(struct rte_mbuf **pkts, unsigned int n)
{
	void *pending[64];
	struct rte_mempool *pool;
	uintptr_t odd = 0;
	unsigned int k = 0;

	if (n == 0)
		return;
	pool = pkts[0]->pool;
	for (unsigned int i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];

		odd |= (uintptr_t)(rte_mbuf_refcnt_read(m) ^ 1) | (uintptr_t)(m->nb_segs ^ 1) |
		       (uintptr_t)(m->ol_flags & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL)) |
		       (uintptr_t)m->next | ((uintptr_t)m->pool ^ (uintptr_t)pool);
	}
	if (likely(odd == 0)) {
		rte_mempool_put_bulk(pool, (void **)pkts, n);
		return;
	}

	pool = NULL;
	for (unsigned int i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];

		if (unlikely(m->nb_segs != 1)) {
			rte_pktmbuf_free(m);
			continue;
		}
		m = rte_pktmbuf_prefree_seg(m);
		if (m == NULL)
			continue; /* still referenced elsewhere */
		if (m->pool != pool || k == RTE_DIM(pending)) {
			if (k != 0)
				rte_mempool_put_bulk(pool, pending, k);
			pool = m->pool;
			k = 0;
		}
		pending[k++] = m;
	}
	if (k != 0)
		rte_mempool_put_bulk(pool, pending, k);
}

#endif
