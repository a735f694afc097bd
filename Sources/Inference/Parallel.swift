import CBLAS
import FileIO
import VGGCore
import Foundation

/// The engine owns its threads: OpenBLAS runs single-threaded inside each task, and work is split
/// across the machine's cores here. (A threaded OpenBLAS keeps its workers spinning between calls,
/// which starved the engine's own transforms and im2col on a 2-core machine.)
enum Parallel {
    static let cores = Cores.count

    /// Called once before the first matrix product.
    static let configureBLAS: Void = { openblas_set_num_threads(1) }()

    /// Splits `0..<count` into one contiguous range per core and runs `body` on each concurrently.
    static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        let parts = max(1, min(cores, count / max(1, minimumChunk)))
        if parts == 1 { return body(0..<count) }
        let size = (count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let range = min(part * size, count)..<min((part + 1) * size, count)
            if !range.isEmpty { body(range) }
        }
    }
}
