import FileIO
import CKernels
import Dispatch

/// A keyed hash of a tensor's values by canonical position, computed in the source's own storage order:
/// a Keras kernel is hashed as stored, without transposing it. Two tensors whose hashes (two 32-bit
/// sums, `keys` drawn at random per process) are equal hold the same bits at every canonical position,
/// but with a probability of about 2^-64 — and since the keys are secret, nobody can build a pair that
/// collides. `diff` uses it to confirm identical tensors in one sequential read of each side.
public struct PositionHash: Equatable, Sendable {
    public var sums: [UInt32]
    /// Whether some value is NaN or infinite (such tensors are compared value by value instead).
    public var nonFinite: Bool

    /// Random keys for this process.
    public static let keys: CKernels_hash_keys = {
        var generator = SystemRandomNumberGenerator()
        return CKernels_hash_keys(multiplier: (generator.next() | 1, generator.next() | 1),
                                  offset: (generator.next(), generator.next()))
    }()

    /// The hash of `values`, or nil when it cannot be computed in storage order: a dtype other than
    /// float32, 2^32 or more values, or a tensor stored inverse-transposed. Split across the cores; the
    /// source's pages are released afterwards. With `checksum`, the CRC-32 of each run read is added to
    /// it too, chunk by chunk while the chunk is in cache.
    public init?(_ values: CanonicalValues, checksum: ChecksumPieces? = nil) {
        let tensor = values.tensor
        guard tensor.sourceDType == .float32, values.count < 1 << 32, tensor.data.count >= values.count * 4 else { return nil }
        // Runs of the source in storage order: (first canonical index, stride, source element offset, length).
        let runs: (Int) -> (first: Int, stride: Int, offset: Int, count: Int)
        let runCount: Int
        switch tensor.conversion {
        case .identity:
            let pieces = max(1, min(values.count / (1 << 16), 4 * Cores.count))
            let per = (values.count + pieces - 1) / pieces
            runCount = pieces
            runs = { i in (i * per, 1, i * per, max(0, min(per, values.count - i * per))) }
        case .interleavedTranspose(let t):  // source row g * channels + c holds canonical [o, c * groups + g]
            runCount = t.rows
            runs = { r in
                let (g, c) = r.quotientAndRemainder(dividingBy: t.channels)
                return (c * t.groups + g, t.rows, r * t.columns, t.columns)
            }
        case .deinterleavedTranspose:
            return nil
        }
        let parts = max(1, min(Cores.count, runCount))
        let partials = UnsafeMutableBufferPointer<(UInt32, UInt32, UInt32)>.allocate(capacity: parts)
        partials.initialize(repeating: (0, 0, 0))
        defer { partials.deallocate() }
        tensor.data.withUnsafeBytes { raw in
            let shared = SharedBuffer((raw.bindMemory(to: Float.self), partials, runs))
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                let (floats, out, runs) = shared.pointer
                var keys = PositionHash.keys
                var sums: [UInt32] = [0, 0]
                var bad: UInt32 = 0
                for index in stride(from: part, to: runCount, by: parts) {
                    let run = runs(index)
                    guard run.count > 0 else { continue }
                    let chunk = checksum == nil ? run.count : 1 << 14
                    var crc = CRC32()
                    for done in stride(from: 0, to: run.count, by: chunk) {
                        let start = floats.baseAddress! + run.offset + done, n = min(chunk, run.count - done)
                        CKernels_position_hash32(start, n, UInt32(truncatingIfNeeded: run.first + done * run.stride),
                                                 UInt32(truncatingIfNeeded: run.stride), &keys, &sums, &bad)
                        if checksum != nil { crc.update(UnsafeRawBufferPointer(start: start, count: n * 4)) }
                    }
                    checksum?.add(offset: run.offset * 4, length: run.count * 4, crc: crc.value)
                }
                out[part] = (sums[0], sums[1], bad)
            }
        }
        tensor.data.releasePages()
        sums = [partials.reduce(0) { $0 &+ $1.0 }, partials.reduce(0) { $0 &+ $1.1 }]
        nonFinite = partials.contains { $0.2 != 0 }
    }
}
