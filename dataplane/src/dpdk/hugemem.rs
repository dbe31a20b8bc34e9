//! Fixed-size arrays in transparent huge pages, for the tables the packet path
//! reads at random (exact-table entries and their filters).
//!
//! At a million targets one worker's tables span thousands of 4 KiB pages, more
//! than the TLB maps next to the mbufs, so a lookup would also pay a page walk
//! (a nested one in a VM). DPDK keeps its own tables in hugepage memory; these
//! live outside EAL memory so that they work without it too (capture-file source,
//! tests, tools), and ask the kernel for transparent huge pages instead
//! (`madvise(MADV_HUGEPAGE)`, which works with THP in its `madvise` mode and
//! needs no reserved hugepages). Where THP is off the memory is ordinary pages.

use std::alloc::{self, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// A transparent huge page.
const HUGE_PAGE: usize = 2 << 20;
/// Arrays from this size on are huge-page backed; smaller ones are plain heap
/// memory (a huge page would more than double them).
const HUGE_MIN_BYTES: usize = 1 << 20;

/// A heap array of `len` `T`s, in huge pages when it is at least 1 MiB.
pub struct HugeArray<T: Copy> {
    ptr: NonNull<T>,
    len: usize,
    /// Layout it was allocated with (`None`: nothing allocated).
    layout: Option<Layout>,
}

// SAFETY: HugeArray owns its memory exclusively, like Box<[T]>: sending or sharing
// it is as safe as sending or sharing the Ts.
unsafe impl<T: Copy + Send> Send for HugeArray<T> {}
// SAFETY: as above; &HugeArray only gives out &[T].
unsafe impl<T: Copy + Sync> Sync for HugeArray<T> {}

impl<T: Copy> Default for HugeArray<T> {
    fn default() -> Self {
        Self {
            ptr: NonNull::dangling(),
            len: 0,
            layout: None,
        }
    }
}

impl<T: Copy> HugeArray<T> {
    /// Size and alignment of an array of `len` Ts, and whether it gets huge
    /// pages; `None` if it does not fit the address space.
    fn layout(len: usize) -> Option<(Layout, bool)> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        let huge = bytes >= HUGE_MIN_BYTES;
        let layout = if huge {
            // Whole huge pages: the kernel only backs 2 MiB-aligned ranges.
            Layout::from_size_align(bytes.checked_next_multiple_of(HUGE_PAGE)?, HUGE_PAGE)
        } else {
            Layout::array::<T>(len)
        };
        Some((layout.ok()?, huge))
    }

    /// `len` copies of `fill`. Aborts, as `vec![fill; len]` would, if the memory
    /// cannot be had.
    pub fn new(len: usize, fill: T) -> Self {
        let Some((layout, huge)) = Self::layout(len) else {
            tracing::error!(len, "table larger than the address space");
            std::process::abort()
        };
        if layout.size() == 0 {
            return Self {
                len,
                ..Self::default()
            };
        }
        let size = layout.size();
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            alloc::handle_alloc_error(layout)
        };
        if huge {
            // Before the first touch, so the page faults that follow can take huge
            // pages. Only a hint: failure (THP disabled) leaves ordinary pages.
            // SAFETY: [raw, raw + size) is the allocation just made, and advice
            // does not change its contents.
            let rc = unsafe { libc::madvise(raw.cast(), size, libc::MADV_HUGEPAGE) };
            if rc != 0 {
                tracing::debug!(bytes = size, "no transparent huge pages for a table");
            }
        }
        for i in 0..len {
            // SAFETY: i < len, and the layout holds at least len Ts and is
            // aligned for T (it is Layout::array, or bigger and 2 MiB aligned).
            unsafe { ptr.as_ptr().add(i).write(fill) };
        }
        Self {
            ptr,
            len,
            layout: Some(layout),
        }
    }

    /// Bytes allocated (a huge-page array is rounded up to whole huge pages).
    pub fn allocation_size(&self) -> usize {
        self.layout.map_or(0, |l| l.size())
    }
}

impl<T: Copy> Deref for HugeArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr holds len initialised Ts (or is dangling with len 0 or a
        // zero-sized T), owned by self and borrowed for self's lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> DerefMut for HugeArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Drop for HugeArray<T> {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: allocated in new() with exactly this layout; T: Copy needs
            // no drop.
            unsafe { alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn holds_len_copies_and_is_writable() {
        for len in [0, 1, 1000, HUGE_MIN_BYTES / 8 + 3] {
            let mut a = HugeArray::new(len, 7u64);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&v| v == 7));
            if let Some(last) = a.last_mut() {
                *last = 9;
            }
            assert_eq!(a.iter().filter(|&&v| v == 9).count(), usize::from(len > 0));
        }
    }

    #[test]
    fn large_arrays_are_whole_aligned_huge_pages() {
        let a = HugeArray::new(HUGE_MIN_BYTES / 16, (0u64, 1u32));
        assert_eq!(a.as_ptr() as usize % HUGE_PAGE, 0);
        assert_eq!(a.allocation_size(), HUGE_PAGE);
        let small = HugeArray::new(100, 0u32);
        assert_eq!(small.allocation_size(), 400);
        assert_eq!(HugeArray::<u8>::default().allocation_size(), 0);
    }
}
