import FileIO
import CKernels
import Foundation

/// The one place that knows how framework layouts map onto the canonical layout.
///
/// Every conversion vggconv applies is an *interleaved transpose*: the source is a row-major matrix of
/// `rows × columns` elements and the result is `columns × rows`, where the source row index is split as
/// `row = group * channels + channel` and the result column is `channel * groups + group`:
///
///     result[o, c * groups + g] = source[g * channels + c, o]
///
/// - Keras conv kernel (kh, kw, in, out) → OIHW: groups = kh·kw, channels = in.
/// - Keras dense kernel (in, out) → (out, in): groups = 1, channels = in.
/// - The first Keras dense kernel after `Flatten` of an (H, W, C) map → (out, in) with inputs flattened in
///   C,H,W order: groups = H·W, channels = C. This is the row permutation of `fc1`.
///
/// Exports to Keras run the same transposes backwards (`deinterleavedTranspose`): canonical → HWIO,
/// (out, in) → (in, out) and fc1's rows C,H,W → H,W,C.
public enum LayoutConversion: Equatable, Sendable, CustomStringConvertible {
    case identity
    case interleavedTranspose(InterleavedTranspose)
    /// The inverse of `interleavedTranspose` with the same parameters: `result[g * channels + c, o] =
    /// source[o, c * groups + g]`, so the result has `rows` rows of `columns` elements.
    case deinterleavedTranspose(InterleavedTranspose)

    public var description: String {
        switch self {
        case .identity: return "identity"
        case .interleavedTranspose(let t): return t.description
        case .deinterleavedTranspose(let t): return "inverse of \(t.description)"
        }
    }

    /// Keras (kh, kw, in, out) → (out, in, kh, kw).
    public static func hwioToOIHW(kernelHeight: Int, kernelWidth: Int, inputs: Int, outputs: Int) -> LayoutConversion {
        .interleavedTranspose(InterleavedTranspose(groups: kernelHeight * kernelWidth, channels: inputs, columns: outputs,
                                                   name: "HWIO->OIHW"))
    }

    /// Keras (in, out) → (out, in); when the dense layer follows `Flatten` of a channels-last map with
    /// `spatial` = H·W positions and `channels` = C, its input rows are also reordered from H,W,C to C,H,W.
    public static func inOutToOutIn(inputs: Int, outputs: Int, flattenedSpatial spatial: Int = 1) -> LayoutConversion {
        let name = spatial > 1 ? "IO->OI with Flatten rows HWC->CHW (HW=\(spatial), C=\(inputs / spatial))" : "IO->OI"
        return .interleavedTranspose(InterleavedTranspose(groups: spatial, channels: inputs / spatial, columns: outputs,
                                                          name: name))
    }
}

/// `result[o, c * groups + g] = source[g * channels + c, o]`; see `LayoutConversion`.
public struct InterleavedTranspose: Equatable, Sendable, CustomStringConvertible {
    public let groups: Int
    public let channels: Int
    public let columns: Int
    public let name: String

    public var rows: Int { groups * channels }
    public var description: String { name }

    /// Writes result rows `resultRows` (each `rows` elements of `elementSize` bytes) into `destination`.
    public func apply(source: UnsafeRawBufferPointer, resultRows: Range<Int>, elementSize: Int,
                      into destination: UnsafeMutableRawBufferPointer) {
        precondition(source.count >= rows * columns * elementSize)
        precondition(destination.count >= resultRows.count * rows * elementSize)
        switch elementSize {
        case 1: gather(UInt8.self, source, resultRows, destination)
        case 2: gather(UInt16.self, source, resultRows, destination)
        case 4:
            CKernels_interleaved_transpose32(source.baseAddress!.assumingMemoryBound(to: Float.self),
                                             destination.baseAddress!.assumingMemoryBound(to: Float.self),
                                             groups, channels, columns, resultRows.lowerBound, resultRows.upperBound)
        default: gather(UInt64.self, source, resultRows, destination)
        }
    }

    /// The inverse (`LayoutConversion.deinterleavedTranspose`): writes rows `resultRows` of the source
    /// layout (each `columns` elements) rebuilt from `result`, a tensor laid out as `apply` produces.
    public func applyInverse(result: UnsafeRawBufferPointer, sourceRows: Range<Int>, elementSize: Int,
                             into destination: UnsafeMutableRawBufferPointer) {
        precondition(result.count >= rows * columns * elementSize && sourceRows.upperBound <= rows)
        precondition(destination.count >= sourceRows.count * columns * elementSize)
        guard elementSize != 4 else {
            if groups == 1 {
                // A plain matrix transpose: the forward kernel with the axes swapped (source rows are
                // the result's columns), which reads runs of the block's rows (~3.6x the strided loop on fc2).
                return CKernels_interleaved_transpose_channels32(result.baseAddress!.assumingMemoryBound(to: Float.self),
                                                                 destination.baseAddress!.assumingMemoryBound(to: Float.self),
                                                                 columns, 1, columns, channels, 0, columns,
                                                                 sourceRows.lowerBound, sourceRows.upperBound)
            }
            return CKernels_deinterleave_transpose32(result.baseAddress!.assumingMemoryBound(to: Float.self),
                                                     destination.baseAddress!.assumingMemoryBound(to: Float.self),
                                                     groups, channels, columns, sourceRows.lowerBound, sourceRows.upperBound)
        }
        for row in sourceRows {
            let (g, c) = row.quotientAndRemainder(dividingBy: channels)
            let to = destination.baseAddress!.advanced(by: (row - sourceRows.lowerBound) * columns * elementSize)
            for o in 0..<columns {
                let from = (o * rows + c * groups + g) * elementSize
                to.advanced(by: o * elementSize).copyMemory(from: result.baseAddress!.advanced(by: from), byteCount: elementSize)
            }
        }
    }

    /// The inverse, by channel: for the block of channels `channels` and every group g, writes rows
    /// `g * channels.count + (c - channels.lowerBound)` of `destination` (each `columns` elements): the
    /// source rows `g * self.channels + c`, which lie in `groups` runs of the output, one per group.
    /// Splits the channels across the machine's cores.
    public func applyInverseByChannels(result: UnsafeRawBufferPointer, channels block: Range<Int>, elementSize: Int,
                                       into destination: UnsafeMutableRawBufferPointer, cores: Int = Cores.count) {
        precondition(result.count >= rows * columns * elementSize && block.upperBound <= channels)
        precondition(destination.count >= block.count * groups * columns * elementSize)
        let parts = min(cores, max(1, block.count * groups * columns * elementSize / (1 << 20)))
        let per = (block.count + parts - 1) / parts
        let (input, output) = (SharedBuffer(result), SharedBuffer(destination))
        let (groups, channels, columns) = (self.groups, self.channels, self.columns)
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            let lower = block.lowerBound + min(i * per, block.count), upper = block.lowerBound + min((i + 1) * per, block.count)
            guard lower < upper else { return }
            if elementSize == 4 {
                CKernels_deinterleave_channels32(input.pointer.baseAddress!.assumingMemoryBound(to: Float.self),
                                                 output.pointer.baseAddress!.assumingMemoryBound(to: Float.self),
                                                 groups, channels, columns, block.lowerBound, block.count, lower, upper)
                return
            }
            for g in 0..<groups {
                for c in lower..<upper {
                    let to = output.pointer.baseAddress! + ((g * block.count + c - block.lowerBound) * columns) * elementSize
                    for o in 0..<columns {
                        to.advanced(by: o * elementSize).copyMemory(
                            from: input.pointer.baseAddress! + (o * groups * channels + c * groups + g) * elementSize, byteCount: elementSize)
                    }
                }
            }
        }
    }

    // Tiled through a small staging buffer: 16 source rows contribute one contiguous run of 64
    // elements each (reads stay sequential), the 16×64 tile is staged in L1, and each of the 64 result
    // rows then receives 16 contiguous elements (a whole cache line) exactly once. Writing straight
    // down many result rows instead thrashes L1: fc1's rows are 100,352 bytes apart, which maps every
    // row onto the same two cache sets.
    private func gather<T>(_: T.Type, _ source: UnsafeRawBufferPointer, _ resultRows: Range<Int>,
                           _ destination: UnsafeMutableRawBufferPointer) {
        let src = source.baseAddress!.assumingMemoryBound(to: T.self)
        let dst = destination.baseAddress!.assumingMemoryBound(to: T.self)
        let rows = self.rows, columns = self.columns, channels = self.channels, groups = self.groups
        let tileJ = 16, tileO = 64
        withUnsafeTemporaryAllocation(of: T.self, capacity: tileJ * tileO) { stage in
            var o0 = resultRows.lowerBound
            while o0 < resultRows.upperBound {
                let o1 = min(o0 + tileO, resultRows.upperBound), width = o1 - o0
                var j0 = 0
                while j0 < rows {
                    let height = min(tileJ, rows - j0)
                    for jj in 0..<height {
                        let (c, g) = (j0 + jj).quotientAndRemainder(dividingBy: groups)
                        let sourceRun = src + (g * channels + c) * columns + o0
                        let staged = stage.baseAddress! + jj * tileO
                        for oo in 0..<width { staged[oo] = sourceRun[oo] }
                    }
                    for oo in 0..<width {
                        let out = dst + (o0 + oo - resultRows.lowerBound) * rows + j0
                        for jj in 0..<height { out[jj] = stage[jj * tileO + oo] }
                    }
                    j0 += tileJ
                }
                o0 = o1
            }
        }
    }
}

extension InterleavedTranspose {
    /// `apply` on up to `cores` threads: four-byte elements split by channels, so each thread reads runs
    /// of every result row of the block from its source rows (split by result rows, a core of an 8 MiB
    /// block of fc1 read 164 bytes from each source row, at half the speed); other sizes by result rows.
    public func applyInParallel(source: UnsafeRawBufferPointer, resultRows: Range<Int>, elementSize: Int,
                                into destination: UnsafeMutableRawBufferPointer, cores: Int = Cores.count) {
        let parts = min(cores, channels, max(1, resultRows.count * rows * elementSize / (1 << 20)))
        if elementSize == 4, parts > 1 {
            precondition(source.count >= rows * columns * 4 && destination.count >= resultRows.count * rows * 4 && resultRows.upperBound <= columns)
            let per = (channels + parts - 1) / parts
            let (input, output) = (SharedBuffer(source), SharedBuffer(destination))
            let (groups, channels, columns, rows) = (self.groups, self.channels, self.columns, self.rows)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                let lower = min(i * per, channels), upper = min((i + 1) * per, channels)
                guard lower < upper else { return }
                CKernels_interleaved_transpose_channels32(input.pointer.baseAddress!.assumingMemoryBound(to: Float.self),
                                                          output.pointer.baseAddress!.assumingMemoryBound(to: Float.self) + lower * groups,
                                                          rows, groups, channels, columns, lower, upper,
                                                          resultRows.lowerBound, resultRows.upperBound)
            }
            return
        }
        splitAcrossCores(resultRows, rowBytes: rows * elementSize, into: destination, cores: cores) { range, part in
            apply(source: source, resultRows: range, elementSize: elementSize, into: part)
        }
    }

    /// `applyInverse`, with the rows split across up to `cores` threads.
    public func applyInverseInParallel(result: UnsafeRawBufferPointer, sourceRows: Range<Int>, elementSize: Int,
                                       into destination: UnsafeMutableRawBufferPointer, cores: Int = Cores.count) {
        splitAcrossCores(sourceRows, rowBytes: columns * elementSize, into: destination, cores: cores) { range, part in
            applyInverse(result: result, sourceRows: range, elementSize: elementSize, into: part)
        }
    }

    /// Runs `body` on up to one part of `rows` per core (parts of at least 1 MiB), each with its slice of `destination`.
    private func splitAcrossCores(_ rows: Range<Int>, rowBytes: Int, into destination: UnsafeMutableRawBufferPointer, cores: Int,
                                  _ body: (Range<Int>, UnsafeMutableRawBufferPointer) -> Void) {
        let parts = min(cores, max(1, rows.count * rowBytes / (1 << 20)))
        guard parts > 1 else { return body(rows, destination) }
        let per = (rows.count + parts - 1) / parts
        let output = SharedBuffer(destination)
        withoutActuallyEscaping(body) { body in
            let work = SharedBuffer(body)
            DispatchQueue.concurrentPerform(iterations: parts) { i in
                let lower = rows.lowerBound + min(i * per, rows.count)
                let upper = rows.lowerBound + min((i + 1) * per, rows.count)
                guard lower < upper else { return }
                work.pointer(lower..<upper, UnsafeMutableRawBufferPointer(rebasing: output.pointer[((lower - rows.lowerBound) * rowBytes)...]))
            }
        }
    }
}
