import Dispatch
import Foundation

/// Prepares batches ahead of the engine: while batch b runs, the inputs of batch b+1 are decoded, resized
/// and preprocessed on worker threads, in parallel. At most two batches are held at a time, so memory
/// stays flat in the number of inputs; `body` sees the batches in input order. Of several failing
/// inputs, the first in input order is reported, as a serial loop would report it.
enum BatchPipeline {
    /// Calls `body` with each range of at most `batch` indices of `0..<count` and what `prepare` made of
    /// them, in order. `prepare` runs concurrently and must be thread-safe.
    static func run<T: Sendable>(count: Int, batch: Int, prepare: @escaping @Sendable (Int) throws -> T,
                                 _ body: (Range<Int>, [T]) throws -> Void) throws {
        let ranges = stride(from: 0, to: count, by: batch).map { $0..<min($0 + batch, count) }
        guard !ranges.isEmpty else { return }
        var next: Slot<T>? = Slot(ranges[0], prepare)
        defer { next?.wait() }  // on an error, no worker outlives the call
        for (position, range) in ranges.enumerated() {
            let current = next!
            current.wait()
            next = position + 1 < ranges.count ? Slot(ranges[position + 1], prepare) : nil
            try body(range, try current.results())
        }
    }

    /// One batch being prepared on the global concurrent queue.
    private final class Slot<T: Sendable>: @unchecked Sendable {
        private var values: [T?]
        private var errors: [Error?]
        private let lock = NSLock()
        private let group = DispatchGroup()

        init(_ range: Range<Int>, _ prepare: @escaping @Sendable (Int) throws -> T) {
            values = Array(repeating: nil, count: range.count)
            errors = Array(repeating: nil, count: range.count)
            group.enter()
            DispatchQueue.global(qos: .userInitiated).async { [self] in
                DispatchQueue.concurrentPerform(iterations: range.count) { offset in
                    let outcome = Result { try prepare(range.lowerBound + offset) }
                    lock.lock()
                    switch outcome {
                    case .success(let value): values[offset] = value
                    case .failure(let error): errors[offset] = error
                    }
                    lock.unlock()
                }
                group.leave()
            }
        }

        func wait() { group.wait() }

        func results() throws -> [T] {
            if let error = errors.compactMap({ $0 }).first { throw error }
            return values.map { $0! }
        }
    }
}
