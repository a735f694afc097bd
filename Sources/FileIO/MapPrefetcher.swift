import Foundation

/// Maps in, on a background thread, the pages of the tensors a write converts straight from the memory
/// map (a transpose needs all of its source before its first block; mapping fc1's 411 MB costs ~50 ms
/// done at once, more as faults). It works one such tensor ahead: tensor k's pages are mapped while the
/// tensors before it stream, but only once the previous mapped tensor has released its pages, so at most
/// one of them is resident at a time (peak memory stays the largest tensor plus buffers).
package final class MapPrefetcher: @unchecked Sendable {
    private let mapped: [DispatchSemaphore?]
    private let released: [DispatchSemaphore?]
    private let lock = NSLock()
    private var cancelled = false

    /// `sources[i]`: tensor i's bytes when it is read from the map, else nil.
    package init(_ sources: [TensorData?]) {
        mapped = sources.map { $0 == nil ? nil : DispatchSemaphore(value: 0) }
        released = sources.map { $0 == nil ? nil : DispatchSemaphore(value: 0) }
        let order = sources.indices.filter { sources[$0] != nil }
        guard !order.isEmpty else { return }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            for (position, index) in order.enumerated() {
                if position > 0 { released[order[position - 1]]!.wait() }
                if lock.withLock({ cancelled }) { return }
                sources[index]!.populatePages()
                mapped[index]!.signal()
            }
        }
    }

    /// Waits until tensor `index`'s pages are mapped in (it must not map pages back after they are released).
    package func waitUntilMapped(_ index: Int) {
        guard let semaphore = mapped[index] else { return }
        semaphore.wait()
        semaphore.signal()
    }

    /// Tensor `index` has released its pages: the next one may be mapped.
    package func didRelease(_ index: Int) { released[index]?.signal() }

    /// Stops mapping (the write ended, or failed before reaching the remaining tensors).
    package func cancel() {
        lock.withLock { cancelled = true }
        for semaphore in released { semaphore?.signal() }
    }
}
