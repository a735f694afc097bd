import CKernels
import FileIO
import VGGCore

/// A layer's weights: float32 read in place from the memory-mapped native file when stored as float32
/// (no second copy of a 500 MB model), half-precision read in place when the consumer has a kernel that
/// widens in registers (`halves`), or float32 owned when they had to be widened (float16, bfloat16,
/// float64) or rewritten (BatchNorm folded in).
final class Weights: @unchecked Sendable {
    let count: Int
    /// float16 values used as stored (`keepingHalves`): only a half-precision kernel reads them, and
    /// `pointer` is then unavailable (`withFloats` and `array` widen a copy).
    let halves: UnsafePointer<UInt16>?
    private let owned: UnsafeMutableBufferPointer<Float>?
    private let mapped: UnsafePointer<Float>?
    private let keepAlive: NativeFile?

    /// The tensor's values as float32, or as stored when they are float16 and `keepingHalves`.
    init(_ tensor: NativeTensor, in file: NativeFile, keepingHalves: Bool = false) {
        let count = ShapeMath.elementCount(tensor.shape) ?? 0
        self.count = count
        if tensor.dtype == .float32 || (keepingHalves && tensor.dtype == .float16) {
            let base = file.withBytes(of: tensor) { $0.baseAddress }
            mapped = tensor.dtype == .float32 ? base.map { UnsafePointer($0.assumingMemoryBound(to: Float.self)) } : nil
            halves = tensor.dtype == .float16 ? base.map { UnsafePointer($0.assumingMemoryBound(to: UInt16.self)) } : nil
            owned = nil
            keepAlive = file
            return
        }
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        file.withBytes(of: tensor) { raw in
            if tensor.dtype == .float16, count > 0 {
                return CKernels_widen_halves(raw.baseAddress!.assumingMemoryBound(to: UInt16.self), count, buffer.baseAddress!)
            }
            for i in 0..<count {
                switch tensor.dtype {
                case .bfloat16: buffer[i] = Float(bitPattern: UInt32(raw.load(fromByteOffset: i * 2, as: UInt16.self)) << 16)
                case .float64: buffer[i] = Float(raw.load(fromByteOffset: i * 8, as: Double.self))
                default: buffer[i] = 0
                }
            }
        }
        owned = buffer
        mapped = nil
        halves = nil
        keepAlive = nil
    }

    /// Owned values.
    init(_ values: [Float]) {
        count = values.count
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        _ = buffer.initialize(from: values)
        owned = buffer
        mapped = nil
        halves = nil
        keepAlive = nil
    }

    deinit { owned?.deallocate() }

    /// The float32 values (not for weights kept as halves).
    var pointer: UnsafePointer<Float> {
        precondition(halves == nil, "half-precision weights are read by the half-precision kernels only")
        return mapped ?? UnsafePointer(owned!.baseAddress!)
    }

    /// Calls `body` with the values as float32: in place, or widened into a temporary copy.
    func withFloats<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        guard let halves else { return body(pointer) }
        let widened = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        defer { widened.deallocate() }
        if count > 0 { CKernels_widen_halves(halves, count, widened.baseAddress!) }
        return body(UnsafePointer(widened.baseAddress!))
    }

    var array: [Float] { withFloats { Array(UnsafeBufferPointer(start: $0, count: count)) } }
}
