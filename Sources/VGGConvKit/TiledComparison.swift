import CKernels
import Foundation
import VGGCore

extension ModelDiff {
    /// The comparison statistics of two float32 tensors of which one is stored transposed (a Keras kernel,
    /// `interleavedTranspose`) and the other canonically, or nil for any other pair.
    ///
    /// The statistics do not depend on the order values are paired in, so the pairs are visited in tiles
    /// of (outputs × channels × every group) of the canonical (outputs, channels·groups) matrix: the
    /// transposed side contributes one run of the tile's outputs from each of its rows (1 KB for 256
    /// outputs), transposed into scratch that stays in cache, and the canonical side one run of the tile's
    /// channels·groups values from each output row, compared in place. Reading canonical rows whole instead
    /// visits every row of fc1's 411 MB Keras kernel for 164 bytes per block of rows.
    static func tiledStatistics(_ va: CanonicalValues, _ vb: CanonicalValues) -> Statistics? {
        guard va.tensor.sourceDType == .float32, vb.tensor.sourceDType == .float32 else { return nil }
        switch (va.tensor.conversion, vb.tensor.conversion) {
        case (.interleavedTranspose(let t), .identity):
            return tiledStatistics(transposed: va.tensor.data, canonical: vb.tensor.data, t, transposedFirst: true)
        case (.identity, .interleavedTranspose(let t)):
            return tiledStatistics(transposed: vb.tensor.data, canonical: va.tensor.data, t, transposedFirst: false)
        default:
            return nil
        }
    }

    /// Outputs per tile: runs of 1 KB from each transposed row.
    static let tileOutputs = 256
    /// Canonical values per tile row, about: channels per tile = this / groups.
    static let tileRowValues = 512

    private static func tiledStatistics(transposed: TensorData, canonical: TensorData, _ t: InterleavedTranspose,
                                        transposedFirst: Bool) -> Statistics {
        let (outputs, width) = (t.columns, t.rows)
        let channelsPerTile = max(1, min(t.channels, tileRowValues / max(1, t.groups)))
        let channelBlocks = (t.channels + channelsPerTile - 1) / channelsPerTile
        let workers = min(Cores.count, channelBlocks)
        let tileBytes = tileOutputs * channelsPerTile * t.groups * 4
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: workers * tileBytes, alignment: 64)
        let partials = UnsafeMutableBufferPointer<Statistics>.allocate(capacity: workers)
        partials.initialize(repeating: Statistics())
        defer { scratch.deallocate(); partials.deallocate() }
        transposed.withUnsafeBytes { source in
            canonical.withUnsafeBytes { other in
                let shared = SharedPointers(source: source.bindMemory(to: Float.self).baseAddress!,
                                            canonical: other.bindMemory(to: Float.self).baseAddress!,
                                            scratch: scratch.bindMemory(to: Float.self).baseAddress!, partials: partials)
                for o0 in stride(from: 0, to: outputs, by: tileOutputs) {
                    let o1 = min(o0 + tileOutputs, outputs)
                    DispatchQueue.concurrentPerform(iterations: workers) { worker in
                        let tile = shared.scratch + worker * tileBytes / 4
                        var block = worker, local = Statistics()
                        while block < channelBlocks {
                            let c0 = block * channelsPerTile, c1 = min(c0 + channelsPerTile, t.channels)
                            let tileWidth = (c1 - c0) * t.groups
                            CKernels_interleaved_transpose_channels32(shared.source, tile, t.groups, t.channels, t.columns, c0, c1, o0, o1)
                            for o in o0..<o1 {
                                let x = UnsafeBufferPointer(start: tile + (o - o0) * tileWidth, count: tileWidth)
                                let y = UnsafeBufferPointer(start: shared.canonical + o * width + c0 * t.groups, count: tileWidth)
                                if transposedFirst { local.addSerially(x, y) } else { local.addSerially(y, x) }
                            }
                            block += workers
                        }
                        shared.partials[worker].merge(local)
                    }
                    canonical.releasePages((o0 * width * 4)..<(o1 * width * 4))
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

