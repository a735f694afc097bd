import VGGCore

/// float32 weights: read in place from the memory-mapped native file when stored as float32 (no
/// second copy of a 500 MB model), or owned when they had to be widened (float16, bfloat16,
/// float64) or rewritten (BatchNorm folded in).
final class Weights: @unchecked Sendable {
    let count: Int
    private let owned: UnsafeMutableBufferPointer<Float>?
    private let mapped: UnsafePointer<Float>?
    private let keepAlive: NativeFile?

    /// The tensor's values as float32.
    init(_ tensor: NativeTensor, in file: NativeFile) {
        let count = ShapeMath.elementCount(tensor.shape) ?? 0
        self.count = count
        if tensor.dtype == .float32 {
            mapped = file.withBytes(of: tensor) { $0.baseAddress.map { UnsafePointer($0.assumingMemoryBound(to: Float.self)) } }
            owned = nil
            keepAlive = file
            return
        }
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        file.withBytes(of: tensor) { raw in
            for i in 0..<count {
                switch tensor.dtype {
                case .float16: buffer[i] = Float(Float16(bitPattern: raw.load(fromByteOffset: i * 2, as: UInt16.self)))
                case .bfloat16: buffer[i] = Float(bitPattern: UInt32(raw.load(fromByteOffset: i * 2, as: UInt16.self)) << 16)
                case .float64: buffer[i] = Float(raw.load(fromByteOffset: i * 8, as: Double.self))
                default: buffer[i] = 0
                }
            }
        }
        owned = buffer
        mapped = nil
        keepAlive = nil
    }

    /// Owned values.
    init(_ values: [Float]) {
        count = values.count
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        _ = buffer.initialize(from: values)
        owned = buffer
        mapped = nil
        keepAlive = nil
    }

    deinit { owned?.deallocate() }

    var pointer: UnsafePointer<Float> { mapped ?? UnsafePointer(owned!.baseAddress!) }

    var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
