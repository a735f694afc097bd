import Foundation

/// The machine's usable cores, read once (`activeProcessorCount` reads the cgroup's CPU quota from
/// /sys on every call, which the per-block checksums and transposes used to pay). `VGGCONV_THREADS=N`
/// (the CLI's `--threads N`) uses fewer or more, set before the first use.
public enum Cores {
    public static let count: Int = {
        if let text = ProcessInfo.processInfo.environment[threadsVariable], let n = Int(text), (1...maximumThreads).contains(n) { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()
    /// The environment variable that sets `count`.
    public static let threadsVariable = "VGGCONV_THREADS"
    public static let maximumThreads = 1024
    /// Threads that transpose blocks while a sink's thread writes them: every core but the writer's.
    /// The writes (page allocation and copy into the page cache) are the conversion's critical path; on
    /// 2 cores a second transposing thread only took time from them (A/B, 9 alternating runs: `.pth` →
    /// `.h5` 0.47 → 0.45 s, `.weights.h5` 0.46 → 0.45 s, `keras2native` 0.42 → 0.41 s).
    public static let producers = max(1, count - 1)
}

/// Hands a buffer pointer to concurrent workers that each touch a disjoint part of it.
/// The caller guarantees the memory outlives the work and that the parts do not overlap.
package struct SharedBuffer<Pointer>: @unchecked Sendable {
    package let pointer: Pointer
    package init(_ pointer: Pointer) { self.pointer = pointer }
}

/// A zero-filled scratch buffer of anonymous memory, mapped lazily (pages are faulted in by whoever first
/// writes them, on any core). No transparent huge pages: on the VMs measured, a fresh 32 MB of huge pages
/// took 6-130 ms (the host backs them on first touch) where 4 KB pages took a steady 18 ms, and the
/// transposes ran no faster with them.
package final class ScratchBuffer {
    package let bytes: UnsafeMutableRawBufferPointer

    package init(count: Int) {
        let size = max(1, count)
        let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        precondition(memory != MAP_FAILED && memory != nil, "out of memory allocating \(size) bytes")
        bytes = UnsafeMutableRawBufferPointer(start: memory, count: count)
    }

    deinit { munmap(bytes.baseAddress, max(1, bytes.count)) }
}
