import CKernels
import Foundation
import FileIO
import VGGCore

extension ModelDiff {
    /// The comparison statistics of two float32 tensors of which one is stored transposed (a Keras kernel,
    /// `interleavedTranspose`) and the other canonically, or nil for any other pair. The canonical side's
    /// CRC-32 is added to its `checksums` piece by piece as it is read.
    ///
    /// The statistics do not depend on the order values are paired in, so the pairs are visited in tiles
    /// of (outputs × channels × every group) of the canonical (outputs, channels·groups) matrix: the
    /// transposed side contributes one run of the tile's outputs from each of its rows (1 KB for 256
    /// outputs), transposed into scratch that stays in cache, and the canonical side one run of the tile's
    /// channels·groups values from each output row, compared in place. Reading canonical rows whole instead
    /// visits every row of fc1's 411 MB Keras kernel for 164 bytes per block of rows.
    static func tiledStatistics(_ va: CanonicalValues, _ vb: CanonicalValues,
                                checksums: PendingChecks = PendingChecks()) -> Statistics? {
        guard va.tensor.sourceDType == .float32, vb.tensor.sourceDType == .float32 else { return nil }
        switch (va.tensor.conversion, vb.tensor.conversion) {
        case (.interleavedTranspose(let t), .identity):
            return tiledStatistics(transposed: va.tensor.data, canonical: vb.tensor.data, t, transposedFirst: true, checksum: checksums.b)
        case (.identity, .interleavedTranspose(let t)):
            return tiledStatistics(transposed: vb.tensor.data, canonical: va.tensor.data, t, transposedFirst: false, checksum: checksums.a)
        default:
            return nil
        }
    }

    /// Outputs per tile, at most: runs of 1 KB from each transposed row.
    static let tileOutputs = 256
    /// Canonical values per tile row, about: channels per tile = this / groups.
    static let tileRowValues = 512

    /// Each worker takes whole blocks of outputs (every channel of them), so it reads its canonical rows
    /// completely: it keeps one running CRC-32 per row, combines them when the block is done, and drops
    /// the block's pages.
    private static func tiledStatistics(transposed: TensorData, canonical: TensorData, _ t: InterleavedTranspose,
                                        transposedFirst: Bool, checksum: ChecksumPieces?) -> Statistics {
        let (outputs, width) = (t.columns, t.rows)
        let blockOutputs = max(8, min(tileOutputs, (outputs + Cores.count - 1) / Cores.count))
        let outputBlocks = (outputs + blockOutputs - 1) / blockOutputs
        let channelsPerTile = max(1, min(t.channels, tileRowValues / max(1, t.groups)))
        let workers = min(Cores.count, outputBlocks)
        let tileFloats = blockOutputs * channelsPerTile * t.groups
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: workers * tileFloats)
        let partials = UnsafeMutableBufferPointer<Statistics>.allocate(capacity: workers)
        partials.initialize(repeating: Statistics())
        defer { scratch.deallocate(); partials.deallocate() }
        transposed.withUnsafeBytes { source in
            canonical.withUnsafeBytes { other in
                let shared = SharedPointers(source: source.bindMemory(to: Float.self).baseAddress!,
                                            canonical: other.bindMemory(to: Float.self).baseAddress!,
                                            scratch: scratch.baseAddress!, partials: partials)
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    let tile = shared.scratch + worker * tileFloats
                    var local = Statistics()
                    var rowChecksums = [CRC32](repeating: CRC32(), count: checksum == nil ? 0 : blockOutputs)
                    for block in stride(from: worker, to: outputBlocks, by: workers) {
                        let o0 = block * blockOutputs, o1 = min(o0 + blockOutputs, outputs)
                        for c0 in stride(from: 0, to: t.channels, by: channelsPerTile) {
                            let c1 = min(c0 + channelsPerTile, t.channels), tileWidth = (c1 - c0) * t.groups
                            CKernels_interleaved_transpose_channels32(shared.source, tile, tileWidth, t.groups, t.channels, t.columns, c0, c1, o0, o1)
                            for o in o0..<o1 {
                                let x = UnsafeBufferPointer(start: tile + (o - o0) * tileWidth, count: tileWidth)
                                let y = UnsafeBufferPointer(start: shared.canonical + o * width + c0 * t.groups, count: tileWidth)
                                if transposedFirst { local.addSerially(x, y) } else { local.addSerially(y, x) }
                                if checksum != nil { rowChecksums[o - o0].update(UnsafeRawBufferPointer(y)) }
                            }
                        }
                        let bytes = (o0 * width * 4)..<(o1 * width * 4)
                        if let checksum {
                            var combined = CRC32()
                            for row in 0..<(o1 - o0) { combined.append(rowChecksums[row].value, length: width * 4) }
                            checksum.add(offset: bytes.lowerBound, length: bytes.count, crc: combined.value)
                            for row in rowChecksums.indices { rowChecksums[row] = CRC32() }
                        }
                        canonical.releasePages(bytes)
                    }
                    shared.partials[worker] = local
                }
            }
        }
        var stats = Statistics()
        for part in partials { stats.merge(part) }
        return stats
    }
}

/// The tiled comparison's pointers, handed to `concurrentPerform`'s workers: each writes only its own
/// scratch tile and its own partial statistics.
private struct SharedPointers: @unchecked Sendable {
    let source: UnsafePointer<Float>
    let canonical: UnsafePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    let partials: UnsafeMutableBufferPointer<ModelDiff.Statistics>
}
