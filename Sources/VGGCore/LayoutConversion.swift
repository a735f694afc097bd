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
public enum LayoutConversion: Equatable, Sendable, CustomStringConvertible {
    case identity
    case interleavedTranspose(InterleavedTranspose)

    public var description: String {
        switch self {
        case .identity: return "identity"
        case .interleavedTranspose(let t): return t.description
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

    /// The inverse: from a result laid out as this conversion produces, rebuild the source layout.
    public func invert(result: UnsafeRawBufferPointer, elementSize: Int, into source: UnsafeMutableRawBufferPointer) {
        precondition(result.count >= rows * columns * elementSize && source.count >= rows * columns * elementSize)
        for o in 0..<columns {
            for c in 0..<channels {
                for g in 0..<groups {
                    let from = (o * rows + c * groups + g) * elementSize
                    let to = ((g * channels + c) * columns + o) * elementSize
                    source.baseAddress!.advanced(by: to).copyMemory(from: result.baseAddress!.advanced(by: from), byteCount: elementSize)
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
    /// `apply`, with the result rows split across the machine's cores.
    public func applyInParallel(source: UnsafeRawBufferPointer, resultRows: Range<Int>, elementSize: Int,
                                into destination: UnsafeMutableRawBufferPointer) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let parts = min(cores, max(1, resultRows.count * rows * elementSize / (1 << 20)))
        guard parts > 1 else {
            return apply(source: source, resultRows: resultRows, elementSize: elementSize, into: destination)
        }
        let per = (resultRows.count + parts - 1) / parts
        let (input, output) = (SharedBuffer(source), SharedBuffer(destination))
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            let lower = resultRows.lowerBound + min(i * per, resultRows.count)
            let upper = resultRows.lowerBound + min((i + 1) * per, resultRows.count)
            guard lower < upper else { return }
            let offset = (lower - resultRows.lowerBound) * rows * elementSize
            apply(source: input.pointer, resultRows: lower..<upper, elementSize: elementSize,
                  into: UnsafeMutableRawBufferPointer(rebasing: output.pointer[offset...]))
        }
    }
}
