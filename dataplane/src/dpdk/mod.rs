//! Safe RAII wrappers over DPDK (the only unsafe code in dataplane).
