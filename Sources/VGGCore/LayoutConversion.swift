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
        case 4: gather(UInt32.self, source, resultRows, destination)
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

    // Result rows are produced in tiles of `tile` rows: each source row contributes one contiguous run
    // of `tile` elements (a cache line or so), written to `tile` output streams.
    private func gather<T>(_: T.Type, _ source: UnsafeRawBufferPointer, _ resultRows: Range<Int>,
                           _ destination: UnsafeMutableRawBufferPointer) {
        let src = source.baseAddress!.assumingMemoryBound(to: T.self)
        let dst = destination.baseAddress!.assumingMemoryBound(to: T.self)
        let rows = self.rows, columns = self.columns, channels = self.channels, groups = self.groups
        let tile = 16
        var o0 = resultRows.lowerBound
        while o0 < resultRows.upperBound {
            let o1 = min(o0 + tile, resultRows.upperBound)
            let base = (o0 - resultRows.lowerBound) * rows
            for c in 0..<channels {
                for g in 0..<groups {
                    let sourceRow = src + (g * channels + c) * columns
                    let column = c * groups + g
                    var out = dst + base + column
                    for o in o0..<o1 {
                        out.pointee = sourceRow[o]
                        out += rows
                    }
                }
            }
            o0 = o1
        }
    }
}
