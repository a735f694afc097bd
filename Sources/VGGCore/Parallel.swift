import Foundation

/// Hands a buffer pointer to concurrent workers that each touch a disjoint part of it.
/// The caller guarantees the memory outlives the work and that the parts do not overlap.
struct SharedBuffer<Pointer>: @unchecked Sendable {
    let pointer: Pointer
    init(_ pointer: Pointer) { self.pointer = pointer }
}

/// A zero-filled scratch buffer backed by transparent huge pages where the kernel offers them
/// (`madvise(MADV_HUGEPAGE)`): the transposes write down hundreds of rows at once, and 2 MB pages keep
/// those writes from missing the TLB on every element.
final class ScratchBuffer {
    let bytes: UnsafeMutableRawBufferPointer
    private static let hugePage = 2 << 20

    init(count: Int) {
        let size = max(Self.hugePage, (count + Self.hugePage - 1) / Self.hugePage * Self.hugePage)
        var memory: UnsafeMutableRawPointer?
        precondition(posix_memalign(&memory, Self.hugePage, size) == 0 && memory != nil, "out of memory allocating \(size) bytes")
        #if os(Linux)
        madvise(memory!, size, 14)  // MADV_HUGEPAGE
        #endif
        memset(memory!, 0, size)
        bytes = UnsafeMutableRawBufferPointer(start: memory, count: count)
    }

    deinit { free(bytes.baseAddress) }
}
