import Foundation

/// How many bytes a reader may materialise (inflate, gather, byte-swap) for one input file: a small
/// multiple of the file's own size, so a hostile file cannot make vggconv allocate far more than it is.
/// Zero-copy reads of the memory map cost nothing.
public final class ByteBudget: @unchecked Sendable {
    /// Bytes always allowed, so small files with a few owned tensors still read.
    public static let floor = 64 << 20
    /// Materialised bytes allowed per byte of input.
    public static let multiple = 8

    public let limit: Int
    private let lock = NSLock()
    private var spent = 0

    /// The budget for an input of `fileBytes` bytes.
    public init(fileBytes: Int) {
        limit = max(Self.floor, ShapeMath.saturatingProduct([fileBytes, Self.multiple]))
    }

    /// Takes `bytes` from the budget.
    /// - Throws: `VGGError.resourceLimit` naming `what` when the total would pass the limit.
    public func spend(_ bytes: Int, for what: String, in path: String) throws {
        lock.lock()
        defer { lock.unlock() }
        let (total, overflow) = spent.addingReportingOverflow(max(bytes, 0))
        guard !overflow, total <= limit else {
            throw VGGError.resourceLimit(path: path, reason: "\(what) needs \(bytes) more bytes in memory, beyond the \(limit)-byte budget for this file (\(Self.multiple)x its size); the file claims far more data than it holds")
        }
        spent = total
    }
}
