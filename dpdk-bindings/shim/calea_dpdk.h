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
#include <rte_mbuf_pool_ops.h>
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

/* rte_mempool_obj_iter callback: an mbuf's buffer address is its IOVA. */
static void calea_mbuf_iova_is_va(struct rte_mempool *mp, void *opaque, void *obj, unsigned int idx)
{
	struct rte_mbuf *m = obj;

	(void)mp;
	(void)opaque;
	(void)idx;
	m->buf_iova = (rte_iova_t)(uintptr_t)m->buf_addr;
}

/* Whether mbufs may span 4 KiB pages where DPDK would not let them: an EAL
 * without hugepages (DPDK then keeps every object inside one 4 KiB page) in
 * IOVA-as-VA mode (where virtual contiguity is IOVA contiguity, so a buffer
 * across pages is still one DMA range). */
static inline int calea_mbufs_may_span_pages(void)
{
	return !rte_eal_has_hugepages() && rte_eal_iova_mode() == RTE_IOVA_VA;
}

/* rte_pktmbuf_pool_create with the mbufs back to back, where
 * calea_mbufs_may_span_pages(). Kept inside 4 KiB pages, a mbuf of a 2 KiB
 * data room takes a page of its own: every mbuf header and frame then sits
 * at the same offset of its page, in the same L1 set, and a burst of 32
 * evicts itself. The pool is made without the IOVA-contiguity constraint and
 * each buffer's IOVA set to its address, which IOVA-as-VA mode makes right. */
static inline struct rte_mempool *
calea_pktmbuf_pool_create_packed(const char *name, unsigned int n, unsigned int cache,
				 uint16_t data_room, int socket)
{
	struct rte_pktmbuf_pool_private priv;
	struct rte_mempool *mp;
	int err;

	memset(&priv, 0, sizeof(priv));
	priv.mbuf_data_room_size = data_room;
	mp = rte_mempool_create_empty(name, n, sizeof(struct rte_mbuf) + data_room, cache,
				      sizeof(priv), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (mp == NULL)
		return NULL;
	err = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (err == 0) {
		rte_pktmbuf_pool_init(mp, &priv);
		err = rte_mempool_populate_default(mp);
	}
	if (err < 0) {
		rte_mempool_free(mp);
		rte_errno = -err;
		return NULL;
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	rte_mempool_obj_iter(mp, calea_mbuf_iova_is_va, NULL);
	return mp;
}

#endif
